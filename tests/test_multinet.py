"""The multi-network trainer (CycleGAN, StackGAN): exact resume, refusals, and the CLI."""

import json

import numpy as np
import pytest
import torch
from _cli import run_cli as run
from PIL import Image

from gan_eval.errors import GanEvalError
from gan_eval_models.checkpoint import load_checkpoint
from gan_eval_models.multinet import NetsConfig, train_nets

pytestmark = pytest.mark.usefixtures("one_thread")

# schedule_steps=4: both runs lay out the lr decay / the Stage-II switch over 4 steps
SMALL = {"cyclegan": dict(dataset="restyled-mnist", width=2, batch_size=4, params={"n_res": 1, "schedule_steps": 4}),
         "stackgan": dict(dataset="mnist", width=2, batch_size=4, params={"n_res": 1, "schedule_steps": 4})}


def _cfg(model, out, steps, mnist_dir, **kw):
    return NetsConfig(model=model, steps=steps, out=str(out), log_every=1, quiet=True, data_dir=str(mnist_dir),
                      **{**SMALL[model], **kw})


def _flat(state):
    out = {}

    def walk(prefix, v):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(f"{prefix}.{k}", x)
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                walk(f"{prefix}[{i}]", x)
        else:
            out[prefix] = v
    walk("", state)
    return out


def _assert_same_checkpoint(a, b):
    sa = _flat(load_checkpoint(a / "checkpoint.pt"))
    sb = _flat(load_checkpoint(b / "checkpoint.pt"))
    sa.pop(".elapsed_s"), sb.pop(".elapsed_s"), sa.pop(".config.out"), sb.pop(".config.out")
    assert sa.keys() == sb.keys()
    for k in sa:
        if isinstance(sa[k], torch.Tensor):
            assert torch.equal(sa[k], sb[k]), k
        else:
            assert sa[k] == sb[k], k


def _losses(run_dir):
    return [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"} for line in (run_dir / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("model", ["cyclegan", "stackgan"])
def test_resume_is_bit_identical(tmp_path, mnist_dir, model):
    """2 steps + resume to 4 (StackGAN: crossing from Stage-I to Stage-II) equals 4 straight steps:
    nets, optimisers, random states, the history buffer and the logged losses."""
    full, part = tmp_path / "full", tmp_path / "part"
    train_nets(_cfg(model, full, 4, mnist_dir))
    train_nets(_cfg(model, part, 2, mnist_dir))
    summary = train_nets(_cfg(model, part, 4, mnist_dir), resume=True)
    assert summary["resumed_from"] == 2 and summary["steps"] == 4
    _assert_same_checkpoint(full, part)
    assert _losses(full) == _losses(part) and len(_losses(full)) == 4
    if model == "stackgan":
        assert [r["stage"] for r in _losses(full)] == [1.0, 1.0, 2.0, 2.0]


def test_refusals(tmp_path, mnist_dir):
    run_dir = tmp_path / "r"
    train_nets(_cfg("stackgan", run_dir, 1, mnist_dir))
    with pytest.raises(GanEvalError, match="already holds a checkpoint"):
        train_nets(_cfg("stackgan", run_dir, 1, mnist_dir))
    assert json.loads((run_dir / "config.json").read_text())["resolved"]["schedule_steps"] == 4
    with pytest.raises(GanEvalError, match=r"configuration differs.*width: 2 in the run, 3 now"):
        train_nets(_cfg("stackgan", run_dir, 2, mnist_dir, width=3), resume=True)
    with pytest.raises(GanEvalError, match="unknown stackgan parameter"):
        _cfg("stackgan", run_dir, 1, mnist_dir, params={"lambda_cycle": 3}).validate()
    with pytest.raises(GanEvalError, match="cyclegan trains on a domain pair"):
        _cfg("cyclegan", run_dir, 1, mnist_dir, dataset="mnist").validate()


def test_cli_train_and_sample(tmp_path, capsys, mnist_dir):
    cg = tmp_path / "cg"
    code, out, err = run(["train", "cyclegan", "--dataset", "restyled-mnist", "--steps", "1", "--out", cg, "--width", "2",
                          "--batch-size", "2", "--param", "n_res=1", "--data-dir", mnist_dir, "--quiet", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["hyperparameters"]["n_res"] == 1 and (cg / "samples_1.png").exists()
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(3):
        Image.fromarray(np.full((28, 28), 40 * i, np.uint8)).save(inputs / f"{i}.png")
    code, out, err = run(["sample", cg, "--input", inputs, "-o", tmp_path / "translated", "--direction", "b2a"], capsys)
    assert code == 0, err
    files = sorted((tmp_path / "translated").iterdir())
    assert len(files) == 3 and np.asarray(Image.open(files[0])).shape == (28, 28)
    code, out, err = run(["sample", cg, "-n", "2", "-o", tmp_path / "x"], capsys)
    assert code == 2 and "--input" in err
    code, out, err = run(["train", "cyclegan", "--dataset", "restyled-mnist", "--steps", "1", "--out", tmp_path / "c2",
                          "--loss", "minimax"], capsys)
    assert code == 2 and "--loss does not apply to cyclegan" in err

    sgdir = tmp_path / "sg"
    code, out, err = run(["train", "stackgan", "--dataset", "mnist", "--steps", "2", "--out", sgdir, "--width", "2",
                          "--batch-size", "2", "--data-dir", mnist_dir, "--quiet"], capsys)
    assert code == 0, err
    code, out, err = run(["sample", sgdir, "-n", "4", "-o", tmp_path / "sg.npz", "--json"], capsys)
    assert code == 0, err
    with np.load(tmp_path / "sg.npz") as z:
        assert z["images"].shape == (4, 32, 32, 1)
    code, out, err = run(["sample", sgdir, "-n", "4", "--stage", "1", "-o", tmp_path / "sg1.npz"], capsys)
    with np.load(tmp_path / "sg1.npz") as z:
        assert z["images"].shape == (4, 16, 16, 1)


def test_a_second_trainer_in_the_same_folder_is_refused(tmp_path, mnist_dir):
    """The run folder's lock is train.py's: a folder locked by another process (as a running
    trainer holds it) is refused for a new run and for a resume, and usable once released."""
    import fcntl
    import os

    run_dir = tmp_path / "run"
    train_nets(_cfg("stackgan", run_dir, 1, mnist_dir))
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for kw in ({"resume": True}, {"overwrite": True}):
            with pytest.raises(GanEvalError, match="another process is training in this folder"):
                train_nets(_cfg("stackgan", run_dir, 2, mnist_dir), **kw)
        assert json.loads((run_dir / "config.json").read_text())["config"]["steps"] == 1  # left alone
    finally:
        os.close(fd)
    summary = train_nets(_cfg("stackgan", run_dir, 2, mnist_dir), resume=True)  # the lock is gone with its holder
    assert summary["resumed_from"] == 1 and summary["steps"] == 2


@pytest.mark.parametrize("model", ["cyclegan", "stackgan"])
def test_every_family_parameter_has_a_rule_and_its_default_passes(model, tmp_path):
    from gan_eval_models.family_params import PARAMS, check_params
    from gan_eval_models.multinet import get_family

    defaults = get_family(model).defaults("mnist")
    assert set(PARAMS[model]) == set(defaults)
    check_params(model, defaults)  # the paper values are allowed values


@pytest.mark.parametrize("model,params,message", [
    ("stackgan", {"n_res": "abc"}, "n_res must be an integer >= 0, got 'abc'"),
    ("stackgan", {"n_res": 1.5}, "n_res must be an integer >= 0"),
    ("stackgan", {"lambda_kl": -5}, r"lambda_kl must be a number >= 0, got -5"),
    ("stackgan", {"lambda_kl": float("nan")}, "lambda_kl must be a number >= 0"),
    ("stackgan", {"c_dim": 0}, "c_dim must be an integer >= 1, got 0"),
    ("stackgan", {"stage1_fraction": 1.5}, r"stage1_fraction must be a number in \[0, 1\]"),
    ("stackgan", {"lr": 0}, "lr must be a number > 0"),
    ("stackgan", {"width": 1, "n_res": 1}, "width must be an integer >= 2"),
    ("cyclegan", {"pool_size": True}, "pool_size must be an integer >= 0, got True"),
    ("cyclegan", {"betas": [0.5, 1.0]}, r"betas must be two numbers in \[0, 1\)"),
    ("cyclegan", {"schedule_steps": 0}, "schedule_steps must be an integer >= 1 or null"),
])
def test_a_parameter_of_the_wrong_type_or_range_is_refused_before_training(model, params, message, tmp_path):
    cfg = NetsConfig(model=model, dataset=SMALL[model]["dataset"], steps=1, out=str(tmp_path / "r"), params=params)
    with pytest.raises(GanEvalError, match=message):
        train_nets(cfg)
    assert not (tmp_path / "r").exists()  # refused before the run folder is made


def test_a_setting_given_as_a_field_and_a_parameter_is_refused(tmp_path):
    cfg = NetsConfig(model="stackgan", dataset="mnist", steps=1, out=str(tmp_path), lr=1e-3, params={"lr": 2e-3})
    with pytest.raises(GanEvalError, match="lr given twice"):
        cfg.validate()
    cfg = NetsConfig(model="stackgan", dataset="mnist", steps=1, out=str(tmp_path), width=4, params={"schedule_steps": None})
    assert cfg.resolved()["width"] == 4 and cfg.resolved()["schedule_steps"] == 1


def test_train_help_lists_the_parameters_of_each_family(capsys):
    from gan_eval_models.family_params import PARAMS

    code, out, err = run(["train", "--help"], capsys)
    text = " ".join(out.split())
    assert code == 0, err
    for model, rules in PARAMS.items():
        assert f"{model}: {', '.join(sorted(rules))}" in text
