"""`gan-eval reproduce TABLE --quick` for every table, through the CLI.

The quick runs train for a handful of steps, so their numbers mean nothing; what is checked is
that each finishes, writes TABLE.md and TABLE.json with only finite numbers, cites the papers,
and that bad input exits with code 2 and a one-line message.
"""

import json
import math

import numpy as np

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


def test_refresh_reports_standard_errors_and_the_papers_rows(tmp_path):
    """± is the standard error sample std / √N (PacGAN's convention), N is stated, the missing
    PacGAN rows are present, and each row carries its share of the paper's training."""
    from gan_eval_models.reproduce import mode_collapse_2d, stacked_mnist
    from gan_eval_models.reproduce.common import mean_se

    modes = [8, 7, 5]
    mean, se, n = mean_se(modes)
    assert n == 3 and abs(se - np.std(modes, ddof=1) / np.sqrt(3)) < 1e-12 and mean_se([4])[1] is None
    per_seed = [{"modes_captured": m, "high_quality_fraction": 0.5, "reverse_kl": 0.1, "histogram": [1] * 8} for m in modes]
    table = {"title": "t", "settings": {"training steps per run": 2000}, "seeds": [0, 1, 2], "plots": [], "command": "c",
             "wall_time_s": 1.0, "cpu_time_s": 1.0, "environment": {"device": "cpu", "cpu_count": 2, "torch": "x",
                                                                   "torch_threads": 1},
             "ours": [{"dataset": d, "method": "GAN (non-saturating)", "n_modes": 8, "per_seed": per_seed,
                       "train_seconds": [1.0] * 3} for d in ("ring", "grid")]}
    out = tmp_path / "t"
    out.mkdir()
    (out / "TABLE.json").write_text(json.dumps(table))
    result = mode_collapse_2d.refresh(out)
    row = result["ours"][0]
    assert row["n_runs"] == 3 and abs(row["modes_se"] - se) < 1e-12 and "modes_std" not in row
    md = (out / "TABLE.md").read_text()
    assert f"| 3 | 2,000 / 400,000 (0.5%) | {mean:.1f} ± {se:.1f} |" in md
    assert "standard error" in md and "standard deviation" not in md
    methods = {(p["source"], p["method"], p["modes"]) for p in stacked_mnist.PUBLISHED}
    assert (stacked_mnist.PACGAN, "DCGAN (PacGAN's implementation)", "78.9 ± 6.46") in methods
    assert (stacked_mnist.PACGAN3, "DCGAN, D = ½ G (PacGAN's implementation)", "487.7 ± 34.59") in methods
    assert (stacked_mnist.PACGAN3, "PacDCGAN2, D = ½ G", "840.7 ± 15.92") in methods


def test_paper_setting_trains_in_chunks_and_reports_the_fraction(tmp_path, capsys, one_thread):
    """--setting paper trains PacGAN's rows seed-batched in --work-dir; a second call with more
    --steps resumes the groups; each row states the steps it reached out of 400,000."""
    from gan_eval_models.seed_batch import read_curve

    work, out = tmp_path / "w", tmp_path / "o"
    base = ["reproduce", "mode-collapse-2d", "--setting", "paper", "--seeds", "2", "--work-dir", str(work),
            "--out", str(out), "-q"]
    assert run_cli(base + ["--steps", "1"]) == 0
    assert run_cli(base + ["--steps", "2"]) == 0
    result = json.loads((out / "TABLE.json").read_text())
    assert {r["method"] for r in result["ours"]} == {"GAN", "PacGAN2", "PacGAN3", "PacGAN4"}
    assert all(r["steps"] == 2 and r["n_runs"] == 2 for r in result["ours"])
    assert [s for s, _ in read_curve(work / "paper-ring-pacgan2")] == [0, 1, 2]
    md = (out / "TABLE.md").read_text()
    assert "2 / 400,000 (0.0005%)" in md and "simultaneous D/G updates" in md
    assert (out / "convergence.png").is_file() and "curves" in json.loads((out / "convergence.json").read_text())
    capsys.readouterr()
    assert run_cli(["reproduce", "stackgan", "--setting", "paper", "--out", str(tmp_path / "s")]) == 2
    assert "implemented for mode-collapse-2d, stacked-mnist only" in capsys.readouterr().err


def test_steps_outside_mode_collapse_2d_are_refused_by_their_option_name(tmp_path, capsys):
    assert run_cli(["reproduce", "stackgan", "--steps", "5", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --setting, --steps and --time-limit") and "not stackgan" in err
    assert not (tmp_path / "s").exists()
