"""Tests never write under $HOME (conftest.py points it at an empty folder and checks after each
test); a quick reproduction writes under the cache, never over a full result; a failed run leaves
no empty --out folder."""

import json
import os
from pathlib import Path

from _cli import run_cli
from conftest import TEST_HOME, home_writes


def test_home_is_the_guarded_folder_and_the_guard_sees_writes():
    assert Path.home() == TEST_HOME and os.path.expanduser("~") == str(TEST_HOME)
    assert home_writes() == []
    (TEST_HOME / ".cache").mkdir()
    (TEST_HOME / ".cache" / "x").write_text("x")
    try:
        assert home_writes() == [".cache", ".cache/x"]
    finally:
        (TEST_HOME / ".cache" / "x").unlink()
        (TEST_HOME / ".cache").rmdir()


def test_cache_and_dataset_folders_follow_gan_eval_cache(tmp_path, monkeypatch):
    from gan_eval import cache
    from gan_eval.features import weights
    from gan_eval_models.datasets.download import default_cache_dir

    monkeypatch.setenv("GAN_EVAL_CACHE", str(tmp_path / "c"))
    assert cache.features_dir() == tmp_path / "c" / "features"
    assert weights.default_path().parent == tmp_path / "c" / "weights"
    assert default_cache_dir() == tmp_path / "c" / "data"


def test_quick_reproduction_never_overwrites_a_full_result(tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    full = json.dumps({"table": "mode-collapse-2d", "quick": False, "ours": [1]})
    (out / "TABLE.json").write_text(full)
    code, stdout, err = run_cli(["reproduce", "mode-collapse-2d", "--quick", "--out", out], capsys)
    assert code == 2 and "holds a full result" in err and "--out" in err
    assert (out / "TABLE.json").read_text() == full


def test_quick_reproduction_writes_under_the_cache_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run_cli(["reproduce", "mode-collapse-2d", "--quick", "--quiet"], capsys)
    assert code == 0, err
    quick = Path(os.environ["GAN_EVAL_CACHE"]) / "quick" / "mode-collapse-2d"
    assert (quick / "TABLE.json").is_file() and not (tmp_path / "results").exists()
    assert (quick / "TABLE.md").read_text().startswith("# QUICK")
    assert stdout.startswith("# QUICK") and "QUICK (pipeline check" in stdout.splitlines()[-1]
    assert json.loads((quick / "TABLE.json").read_text())["quick"] is True


def test_failed_train_leaves_no_empty_out_folder(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(["train", "gan2014", "--dataset", "nonexistent", "--steps", "5", "--out", out], capsys)
    assert code == 2 and err.startswith("error:") and not out.exists()
    code, _, err = run_cli(["train", "gan2014", "--dataset", "mnist", "--steps", "5", "--out", out,
                            "--data-dir", tmp_path / "nowhere"], capsys)
    assert code == 2 and not out.exists()
