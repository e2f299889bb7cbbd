"""Fault injection for training runs: SIGINT and kill -9 at random moments inside a step, torn
logs, damaged and foreign checkpoints, a full disk, a second trainer in the same folder.

The reference for "exact" is an uninterrupted run of the same configuration in this process:
parameters, optimiser states, every random state and every log line must match bit for bit.
"""

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from _cli import run_cli
from _faults import assert_same_nets_and_optimizers, fill_disk, flip_bit, no_temp_files
from gan_eval.errors import GanEvalError
from gan_eval_models.checkpoint import load_checkpoint
from gan_eval_models.sample import sample
from gan_eval_models.train import TrainConfig, read_log, train

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parent.parent
STEPS = 14
# checkpoint_every is not a multiple of log_every: a resume must restore the half-summed log line
RING = dict(model="dcgan", dataset="ring", steps=STEPS, width=16, batch_size=8, pack=2, minibatch_disc=True,
            checkpoint_every=5, log_every=3, eval_samples=200, quiet=True)
CLI_ARGS = ["train", "dcgan", "--dataset", "ring", "--steps", STEPS, "--width", 16, "--batch-size", 8, "--pack", 2,
            "--minibatch-disc", "--checkpoint-every", 5, "--log-every", 3, "--eval-samples", 200, "-q"]

# The child runs `gan-eval train` and sends itself SIGNAL at the K-th latent draw. There are two
# draws per step (D's minibatch, then G's), so odd K lands before D's update and even K between
# D's and G's updates: the middle of a step.
CHILD = """
import os, signal, sys
import torch
torch.set_num_threads(1)
from gan_eval_models import train as T
k, sig = int(sys.argv[1]), getattr(signal, sys.argv[2])
real, calls = T._Run._latent, [0]
def latent(self, n):
    calls[0] += 1
    if calls[0] == k:
        os.kill(os.getpid(), sig)
    return real(self, n)
T._Run._latent = latent
from gan_eval.cli.main import main
main([str(a) for a in sys.argv[3:]])
"""


def _default_sigint():
    # a suite started as a background job passes SIGINT ignored to its children, and a run then
    # ignores Ctrl-C by design; the child must see a terminal's default
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _child(k, sig, out):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", CHILD, str(k), sig, *map(str, CLI_ARGS), "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=300, preexec_fn=_default_sigint)


def _rows(run_dir):
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in read_log(run_dir)]


def _assert_same_state(a, b):
    import torch

    assert a["step"] == b["step"]
    assert_same_nets_and_optimizers(a, b)
    for k in ("torch", "noise", "data"):
        assert torch.equal(a["rng"][k], b["rng"][k]), f"rng {k}"
    assert torch.equal(a["rng"]["numpy"][1], b["rng"]["numpy"][1]) and a["rng"]["python"] == b["rng"]["python"]
    assert a["log_sums"] == b["log_sums"] and a["log_count"] == b["log_count"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("full") / "run"
    train(TrainConfig(out=str(out), **RING))
    torch.set_num_threads(n)
    return load_checkpoint(out / "checkpoint.pt"), _rows(out)


# random moments, drawn once with a fixed seed so a failure repeats
MOMENTS = sorted(random.Random(23).sample(range(1, 2 * STEPS), 3))


@pytest.mark.parametrize("k", MOMENTS)
def test_sigint_mid_step_then_resume_equals_uninterrupted(tmp_path, uninterrupted, capsys, k):
    run = tmp_path / "run"
    p = _child(k, "SIGINT", run)
    assert p.returncode == 130 and "Traceback" not in p.stderr, p.stderr
    step = (k + 1) // 2  # the step that was running finished, and was saved
    assert load_checkpoint(run / "checkpoint.pt")["step"] == step
    assert [r["step"] for r in _rows(run)] == [r["step"] for r in uninterrupted[1] if r["step"] <= step]
    code, out, err = run_cli([*CLI_ARGS, "--out", run, "--resume"], capsys)
    assert code == 0, err
    _assert_same_state(load_checkpoint(run / "checkpoint.pt"), uninterrupted[0])
    assert _rows(run) == uninterrupted[1]


@pytest.mark.parametrize("k", MOMENTS[:1])
def test_kill_9_mid_step_and_torn_log_line_then_resume_equals_uninterrupted(tmp_path, uninterrupted, capsys, k):
    run = tmp_path / "run"
    p = _child(k, "SIGKILL", run)
    assert p.returncode == -signal.SIGKILL
    with open(run / "log.jsonl", "a") as f:
        f.write('{"d_loss": 0.69, "g_l')  # a line torn by the kill
    if not (run / "checkpoint.pt").exists():  # killed before the first checkpoint: start afresh
        code, out, err = run_cli([*CLI_ARGS, "--out", run], capsys)
    else:
        code, out, err = run_cli([*CLI_ARGS, "--out", run, "--resume"], capsys)
    assert code == 0, err
    _assert_same_state(load_checkpoint(run / "checkpoint.pt"), uninterrupted[0])
    assert _rows(run) == uninterrupted[1]


def test_second_sigint_stops_at_once_keeping_the_last_checkpoint(tmp_path):
    """Two SIGINTs inside one step: no checkpoint of a half-finished step is written."""
    run = tmp_path / "run"
    child = CHILD.replace("os.kill(os.getpid(), sig)", "os.kill(os.getpid(), sig); os.kill(os.getpid(), sig)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", child, "14", "SIGINT", *map(str, CLI_ARGS), "--out", str(run)],
                       capture_output=True, text=True, env=env, timeout=300, preexec_fn=_default_sigint)
    assert p.returncode == 130, p.stderr
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 5  # the last periodic checkpoint, not step 7


def test_fresh_run_does_not_append_to_a_dead_runs_log(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.jsonl").write_text('{"step": 1, "d_loss": 9.0, "g_loss": 9.0}\n{"step": 2, "d_lo')
    (run / "config.json").write_text("{}")
    train(TrainConfig(out=str(run), **{**RING, "steps": 3}))
    assert [r["step"] for r in read_log(run) if "d_loss" in r] == [3] and all(r.get("d_loss") != 9.0 for r in read_log(run))


def test_damaged_checkpoint_is_refused_by_resume_and_sample(tmp_path, capsys):
    run = tmp_path / "run"
    train(TrainConfig(out=str(run), **{**RING, "steps": 3}))
    flip_bit(run / "checkpoint.pt")  # inside the last tensors of the payload
    with pytest.raises(GanEvalError, match="checksum mismatch"):
        train(TrainConfig(out=str(run), **{**RING, "steps": 6}), resume=True)
    with pytest.raises(GanEvalError, match="checksum mismatch"):
        sample(run, 4)
    code, out, err = run_cli(["sample", run, "-n", 4, "-o", tmp_path / "s.npz"], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error:") and "checksum mismatch" in err
    assert not (tmp_path / "s.npz").exists()
    # a truncated copy, and a header bit
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(GanEvalError, match="checksum mismatch"):
        sample(run, 4)
    (run / "checkpoint.pt").write_bytes(data[:25] + b"\xff" + data[26:])
    with pytest.raises(GanEvalError, match="damaged checkpoint|checksum mismatch"):
        sample(run, 4)


def test_foreign_checkpoint_is_refused_by_resume_and_sample(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    train(TrainConfig(out=str(a), **{**RING, "steps": 3}))
    train(TrainConfig(out=str(b), **{**RING, "steps": 3, "seed": 1}))  # another run: another seed
    (a / "checkpoint.pt").write_bytes((b / "checkpoint.pt").read_bytes())
    with pytest.raises(GanEvalError, match="belongs to another run"):
        train(TrainConfig(out=str(a), **{**RING, "steps": 6}), resume=True)
    code, out, err = run_cli(["sample", a, "-n", 4, "-o", tmp_path / "s.npz"], capsys)
    assert code == 2 and err.count("\n") == 1 and "belongs to another run" in err


def test_full_disk_at_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    train(TrainConfig(out=str(run), **{**RING, "steps": 5}))
    before = (run / "checkpoint.pt").read_bytes()
    fill_disk(monkeypatch, room=1000)
    code, out, err = run_cli([*CLI_ARGS, "--out", run, "--resume"], capsys)
    assert code == 2 and err.count("\n") == 1 and "No space left on device" in err, err
    assert (run / "checkpoint.pt").read_bytes() == before and no_temp_files(run) == []


def test_a_second_trainer_in_the_same_folder_is_refused(tmp_path):
    import fcntl

    run = tmp_path / "run"
    run.mkdir()
    fd = os.open(run, os.O_RDONLY)  # as another process training there would hold it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(GanEvalError, match="another process is training in this folder"):
            train(TrainConfig(out=str(run), **{**RING, "steps": 2}))
    finally:
        os.close(fd)
    train(TrainConfig(out=str(run), **{**RING, "steps": 2}))  # the lock is gone with its holder
    assert json.loads((run / "config.json").read_text())["config"]["steps"] == 2


def test_unwritable_run_folder_exits_2(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, out, err = run_cli([*CLI_ARGS, "--out", tmp_path / "file" / "run"], capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "cannot create the run folder" in err
