"""The bad-input corpus: every command, each case exit 2 with exactly one `error:` line, no
traceback and nothing on stdout; option names in the messages are the CLI's."""

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from _cli import run_cli
from gan_eval.cli.reproduce import TABLE_NAMES
from gan_eval.provenance import for_run


@pytest.fixture
def files(tmp_path):
    f = {}
    f["empty"] = tmp_path / "empty"
    f["empty"].mkdir()
    f["imgs"] = tmp_path / "imgs"
    f["imgs"].mkdir()
    for i in range(2):
        Image.new("RGB", (8, 8), (i, i, i)).save(f["imgs"] / f"{i}.png")
    f["png"] = f["imgs"] / "0.png"
    f["txt"] = tmp_path / "a.txt"
    f["txt"].write_text("x")
    for name, resize in (("clean", "clean"), ("tf", "tensorflow")):
        rec = for_run(resize, "ab" * 32, "fp32")
        np.savez(tmp_path / f"{name}.npz", mu=np.zeros(3), sigma=np.eye(3), provenance=np.array(rec.to_json()))
        f[name] = tmp_path / f"{name}.npz"
    np.savez(tmp_path / "nan.npz", mu=np.array([np.nan, 0, 0]), sigma=np.eye(3))
    f["nan"] = tmp_path / "nan.npz"
    np.save(tmp_path / "bool.npy", np.ones((2, 8, 8, 3), bool))
    f["bool"] = tmp_path / "bool.npy"
    np.save(tmp_path / "wide.npy", np.full((2, 8, 8, 3), 300, np.int16))
    f["wide"] = tmp_path / "wide.npy"
    f["full"] = tmp_path / "full"
    f["full"].mkdir()
    (f["full"] / "TABLE.json").write_text(json.dumps({"quick": False}))
    f["run"] = tmp_path / "run"  # a folder without a checkpoint
    f["run"].mkdir()
    f["out"] = tmp_path / "new-out"
    return f


CASES = {
    # fid
    "fid-missing-argument": (["fid", "{png}"], "Missing argument 'PATH2'"),
    "fid-unknown-option": (["fid", "{clean}", "{clean}", "--bogus"], "No such option '--bogus'"),
    "fid-no-such-path": (["fid", "{empty}/nope", "{clean}"], "no such file or folder"),
    "fid-bad-resize": (["fid", "{clean}", "{clean}", "--resize", "bicubic"], "'--resize'"),
    "fid-batch-size-0": (["fid", "{clean}", "{clean}", "--batch-size", "0"], "'--batch-size'"),
    "fid-single-image": (["fid", "{png}", "{clean}"], "a single image"),
    "fid-unsupported-file": (["fid", "{txt}", "{clean}"], "unsupported input"),
    "fid-nan-statistics": (["fid", "{nan}", "{clean}"], "NaN"),
    "fid-mixed-resize-statistics": (["fid", "{clean}", "{tf}"], "--resize clean"),
    "fid-bad-precision": (["fid", "{clean}", "{clean}", "--precision", "fp8"], "'--precision'"),
    # stats
    "stats-no-output": (["stats", "{imgs}"], "Missing option '-o'"),
    "stats-of-statistics": (["stats", "{clean}", "-o", "{out}/s.npz"], "already a statistics file"),
    "stats-empty-folder": (["stats", "{empty}", "-o", "{out}/s.npz"], "is empty"),
    "stats-output-is-folder": (["stats", "{imgs}", "-o", "{empty}"], "directory"),
    # score
    "score-unknown-metric": (["score", "{imgs}", "{imgs}", "--metrics", "fid,foo"], "unknown metric 'foo'"),
    "score-statistics-for-kid": (["score", "{clean}", "{imgs}", "--metrics", "kid"], "need"),
    "score-k-pr-0": (["score", "{imgs}", "{imgs}", "--k-pr", "0"], "'--k-pr'"),
    "score-bool-array": (["score", "{bool}", "{imgs}", "--metrics", "fid"], "bool"),
    "score-16bit-array": (["score", "{wide}", "{imgs}", "--metrics", "fid"], "0..255"),
    # cache
    "cache-unknown-subcommand": (["cache", "purge"], "No such command 'purge'"),
    "cache-clear-no-answer": (["cache", "clear"], "nothing deleted"),
    # parzen
    "parzen-no-validation": (["parzen", "{imgs}", "{imgs}"], "--validation"),
    "parzen-bad-sigmas": (["parzen", "{imgs}", "{imgs}", "--validation", "{imgs}", "--sigmas", "a,b"], "--sigmas"),
    "parzen-unknown-split": (["parzen", "mnist:bogus", "{imgs}", "--sigma", "0.2"], "mnist:bogus"),
    "parzen-missing-file": (["parzen", "{empty}/nope.npy", "{imgs}", "--sigma", "0.2"], "no such file"),
    "parzen-n-centres-0": (["parzen", "{imgs}", "{imgs}", "--n-centres", "0"], "'--n-centres'"),
    # train
    "train-steps-0": (["train", "gan2014", "--dataset", "mnist", "--steps", "0", "--out", "{out}"], "'--steps'"),
    "train-unknown-model": (["train", "nomodel", "--dataset", "mnist", "--steps", "1", "--out", "{out}"], "nomodel"),
    "train-pack-with-class-head": (["train", "acgan", "--dataset", "mnist", "--steps", "1", "--pack", "2", "--out",
                                    "{out}"], "--pack 2"),
    "train-k-disc-0": (["train", "gan2014", "--dataset", "mnist", "--steps", "1", "--k-disc", "0", "--out", "{out}"],
                       "--k-disc must"),
    "train-g-steps-0": (["train", "dcgan-small", "--dataset", "stacked-mnist", "--steps", "1", "--g-steps", "0",
                         "--out", "{out}"], "--g-steps must be an integer >= 1"),
    "train-unknown-real-batches": (["train", "dcgan-small", "--dataset", "stacked-mnist", "--steps", "1",
                                    "--real-batches", "sometimes", "--out", "{out}"],
                                   "--real-batches must be one of shuffled, fixed-tuples, fresh, got 'sometimes'"),
    "train-fresh-batches-outside-stacked-mnist": (["train", "dcgan", "--dataset", "mnist", "--steps", "1",
                                                   "--real-batches", "fresh", "--out", "{out}"],
                                                  "applies to stacked-mnist, not mnist"),
    "train-unknown-sample-bn": (["train", "dcgan-small", "--dataset", "stacked-mnist", "--steps", "1", "--sample-bn",
                                 "train", "--out", "{out}"], "--sample-bn must be one of eval, batch, got 'train'"),
    "train-reuse-z-with-simultaneous-updates": (["train", "gan2014", "--dataset", "mnist", "--steps", "1", "--reuse-z",
                                                 "--update", "simultaneous", "--out", "{out}"], "--reuse-z needs alternating updates"),
    "train-resume-nothing": (["train", "gan2014", "--dataset", "ring", "--steps", "1", "--resume", "--out", "{run}"],
                             "without --resume"),
    "train-unknown-dataset": (["train", "gan2014", "--dataset", "nodata", "--steps", "1", "--out", "{out}"],
                              "nodata"),
    # sample
    "sample-no-run-folder": (["sample", "{empty}/nope", "-n", "4", "-o", "{out}"], "does not exist"),
    "sample-no-checkpoint": (["sample", "{run}", "-n", "4", "-o", "{out}/s.npz"], "run"),
    "sample-bad-format": (["sample", "{run}", "-n", "4", "-o", "{out}", "--format", "gif"], "'--format'"),
    "train-param-not-a-number": (["train", "stackgan", "--dataset", "mnist", "--steps", "1", "--param", "n_res=abc",
                                  "--out", "{out}"], "n_res must be an integer >= 0, got 'abc'"),
    "train-param-fractional-count": (["train", "stackgan", "--dataset", "mnist", "--steps", "1", "--param", "n_res=1.5",
                                      "--out", "{out}"], "n_res must be an integer >= 0, got 1.5"),
    "train-param-negative-count": (["train", "cyclegan", "--dataset", "usps", "--steps", "1", "--param", "n_res=-1",
                                    "--out", "{out}"], "n_res must be an integer >= 0, got -1"),
    "train-param-weight-not-a-number": (["train", "stackgan", "--dataset", "mnist", "--steps", "1", "--param",
                                         "lambda_kl=abc", "--out", "{out}"], "lambda_kl must be a number >= 0, got 'abc'"),
    "train-param-negative-weight": (["train", "stackgan", "--dataset", "mnist", "--steps", "1", "--param",
                                     "lambda_kl=-5", "--out", "{out}"], "lambda_kl must be a number >= 0, got -5"),
    "train-param-zero-size": (["train", "stackgan", "--dataset", "mnist", "--steps", "1", "--param", "c_dim=0",
                               "--out", "{out}"], "c_dim must be an integer >= 1, got 0"),
    "train-param-fraction-above-1": (["train", "cyclegan", "--dataset", "usps", "--steps", "1", "--param",
                                      "decay_start=2", "--out", "{out}"], "decay_start must be a number in [0, 1], got 2"),
    "train-param-one-beta": (["train", "cyclegan", "--dataset", "usps", "--steps", "1", "--param", "betas=[0.5]",
                              "--out", "{out}"], "betas must be two numbers in [0, 1)"),
    "train-param-unknown-key": (["train", "cyclegan", "--dataset", "usps", "--steps", "1", "--param", "c_dim=4",
                                 "--out", "{out}"], "unknown cyclegan parameter(s) c_dim"),
    "train-param-and-option-same-setting": (["train", "stackgan", "--dataset", "mnist", "--steps", "1", "--lr", "0.001",
                                             "--param", "lr=0.002", "--out", "{out}"],
                                            "--lr 0.001 and --param lr=0.002 set the same setting"),
    "train-param-key-twice": (["train", "stackgan", "--dataset", "mnist", "--steps", "1", "--param", "n_res=1",
                               "--param", "n_res=2", "--out", "{out}"], "--param n_res given twice"),
    "train-family-option-has-a-param": (["train", "stackgan", "--dataset", "mnist", "--steps", "1", "--latent-dim",
                                         "64", "--out", "{out}"],
                                        "--latent-dim does not apply to stackgan; use --param latent_dim=64 instead"),
    "train-family-options-without-param": (["train", "cyclegan", "--dataset", "usps", "--steps", "1", "--loss",
                                            "minimax", "--ema", "0.9", "--out", "{out}"],
                                           "--ema, --loss do not apply to cyclegan"),
    # reproduce
    "reproduce-unknown-table": (["reproduce", "table9"], "'table9' is not one of"),
    "reproduce-seeds-0": (["reproduce", "mode-collapse-2d", "--seeds", "0", "--out", "{out}"], "'--seeds'"),
    "reproduce-stacked-mnist-paper-quick": (["reproduce", "stacked-mnist", "--setting", "paper", "--quick", "--out",
                                             "{out}"], "--quick and --setting paper exclude each other"),
    "reproduce-quick-over-full-result": (["reproduce", "mode-collapse-2d", "--quick", "--out", "{full}"],
                                         "holds a full result"),
    **{f"reproduce-{table}-unknown-device": (["reproduce", table, "--quick", "--device", "banana", "--out", "{out}"],
                                             "invalid device 'banana'")
       for table in TABLE_NAMES},
    # hype
    "hype-report-missing-dir": (["hype", "report"], "Missing argument 'DIR'"),
    "hype-report-not-a-session": (["hype", "report", "{empty}/nope"], "nope"),
    "hype-serve-odd-n": (["hype", "serve", "{imgs}", "{imgs}", "--session", "{out}", "--n", "3"], "--n must"),
    # truncation
    "truncation-not-a-run": (["truncation", "{run}", "{imgs}"], "not found (is this a run folder"),
    "truncation-bad-psi": (["truncation", "{run}", "{imgs}", "--psi", "abc"], "--psi must be comma-separated"),
    "truncation-negative-psi": (["truncation", "{run}", "{imgs}", "--psi", "-1"], "--psi must be comma-separated"),
    "truncation-n-0": (["truncation", "{run}", "{imgs}", "-n", "0"], "-n must be an integer"),
    "truncation-unknown-variant": (["truncation", "{run}", "{imgs}", "--variant", "bogus"], "--variant must be"),
    # the group itself
    "unknown-command": (["frobnicate"], "No such command 'frobnicate'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_error_line_and_exit_2(case, files, monkeypatch, capsys):
    args, expected = CASES[case]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # a prompt gets no answer
    code, out, err = run_cli([a.format(**files) for a in args], capsys)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2, (case, err)
    assert len(errors) == 1 and expected in errors[0], (case, err)
    assert "Traceback" not in err and out == "", (case, err)
    assert not files["out"].exists() or any(files["out"].iterdir()), "an empty --out folder was left behind"


def test_the_corpus_covers_every_command():
    from gan_eval.cli.main import COMMANDS

    covered = {CASES[c][0][0] for c in CASES}
    assert set(COMMANDS) <= covered and len(CASES) >= 30


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_cuda_fails_even_when_nothing_runs_the_network(files, capsys):
    # two statistics files need no network at all, yet the impossible setting is refused
    code, out, err = run_cli(["fid", files["clean"], files["clean"], "--device", "cuda"], capsys)
    assert code == 2 and err.startswith("error: device 'cuda' asked for, but CUDA is not available")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("table", TABLE_NAMES)
def test_reproduce_device_cuda_without_cuda_is_refused_before_any_work(table, files, capsys):
    code, out, err = run_cli(["reproduce", table, "--quick", "--device", "cuda", "--out", str(files["out"])], capsys)
    assert code == 2 and err.startswith("error: device 'cuda' asked for, but CUDA is not available"), err
    assert "Traceback" not in err and out == "" and not files["out"].exists()
