"""`gan-eval reproduce TABLE --quick` for every table, through the CLI.

The quick runs train for a handful of steps, so their numbers mean nothing; what is checked is
that each finishes, writes TABLE.md and TABLE.json with only finite numbers, cites the papers,
and that bad input exits with code 2 and a one-line message.
"""

import json
import math

import pytest

from gan_eval.cli.main import main

TABLES = ("goodfellow2014", "mode-collapse-2d", "stacked-mnist")


def run_cli(args):
    with pytest.raises(SystemExit) as e:
        main(args)
    return e.value.code


def numbers(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from numbers(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield obj


def _reject(constant):
    raise AssertionError(f"non-finite number {constant} in TABLE.json")


@pytest.mark.parametrize("table", TABLES)
def test_quick_reproduction(table, tmp_path, mnist_dir, capsys):
    out = tmp_path / table
    as_json = table == "mode-collapse-2d"  # one table exercises --json, the others the text output
    args = ["reproduce", table, "--quick", "--out", str(out), "--data-dir", str(mnist_dir), "--quiet"]
    code = run_cli(args + (["--json"] if as_json else []))
    printed = capsys.readouterr()
    assert code == 0, printed.err
    result = json.loads((out / "TABLE.json").read_text(), parse_constant=_reject)
    md = (out / "TABLE.md").read_text()
    assert result["table"] == table and result["quick"] is True
    assert all(math.isfinite(x) for x in numbers(result))
    assert result["ours"] and result["published"] and result["wall_time_s"] > 0
    for paper in result["papers"]:
        assert paper in md
    assert "Quick mode" in md and "## Settings" in md
    for plot in result["plots"]:
        assert (out / plot).stat().st_size > 1000
    if table == "goodfellow2014":  # the trainer's validation curve (quick: every 10 of 20 steps) reaches the table
        curve = result["ours"][0]["per_seed"][0]["validation_curve"]
        assert [step for step, _ in curve] == [10, 20]
        assert "Validation Parzen LL logged during training" in md
    if table == "stacked-mnist":  # both settings, each beside its papers' rows
        assert [r["setting"] for r in result["ours"]] == ["real"] + ["dcgan"] * 3 + ["small-d"] * 3
        assert {p["setting"] for p in result["published"]} == {"dcgan", "small-d"}
        assert "## DCGAN nets" in md and "## Small nets, D = ½ G" in md and "628.0 ± 140.9" in md
    if as_json:
        summary = json.loads(printed.out)
        assert summary["table"] == table and summary["files"]
        methods = {r["method"] for r in summary["ours"]}
        assert {"GAN (minimax)", "GAN (non-saturating)", "LSGAN", "GAN + minibatch discrimination",
                "PacGAN2"} <= methods
    else:
        assert "TABLE.md" in printed.out  # the text output names the files written


def test_unknown_table_exits_2(capsys):
    assert run_cli(["reproduce", "table9", "--quick"]) == 2
    assert "table9" in capsys.readouterr().err


def test_bad_seeds_exit_2(tmp_path, capsys):
    assert run_cli(["reproduce", "mode-collapse-2d", "--quick", "--seeds", "0", "--out", str(tmp_path)]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_missing_mnist_folder_exits_2(tmp_path, capsys):
    code = run_cli(["reproduce", "goodfellow2014", "--quick", "--out", str(tmp_path / "o"),
                    "--data-dir", str(tmp_path / "no-such-folder")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") or "does not exist" in err


def test_parallel_training_gives_the_runs_of_sequential_training(tmp_path, one_thread):
    """`--jobs 2` trains runs in spawned worker processes; each run must end as when trained alone.

    Workers use one torch thread, so the run alone does too: CPU reductions with another thread
    count may differ in the last bits."""
    import torch

    from gan_eval_models.checkpoint import load_checkpoint
    from gan_eval_models.reproduce.common import ensure_trained, train_runs

    runs = {f"ring-s{seed}": dict(model="gan2014", dataset="ring", steps=5, seed=seed, width=16, batch_size=8,
                                  checkpoint_every=5) for seed in (0, 1)}
    train_runs(tmp_path / "parallel", runs.items(), jobs=2)
    for name, config in runs.items():
        ensure_trained(tmp_path / "alone", name, quiet=True, **config)
        a = load_checkpoint(tmp_path / "parallel" / name / "checkpoint.pt")["generator"]
        b = load_checkpoint(tmp_path / "alone" / name / "checkpoint.pt")["generator"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        assert (tmp_path / "parallel" / name / "reproduce_done.json").is_file()


def test_bad_jobs_exit_2(tmp_path, capsys):
    assert run_cli(["reproduce", "mode-collapse-2d", "--quick", "--jobs", "0", "--out", str(tmp_path)]) == 2
    assert "--jobs" in capsys.readouterr().err
