"""Settings that cannot take effect are said, not swallowed (the CLI's one voice, part 2)."""

import json

import numpy as np
import pytest

from _cli import run_cli
from _score_data import SMALL_CLI, copy_images, install_fake_net


@pytest.fixture
def images(tmp_path, fixtures_dir, monkeypatch):
    install_fake_net(monkeypatch)
    return copy_images(fixtures_dir / "real", tmp_path / "real"), copy_images(fixtures_dir / "fake", tmp_path / "fake")


def test_score_default_metrics_skip_is_with_features_only_weights(images, torchscript_weights, capsys):
    real, fake = images
    features_only_weights = torchscript_weights  # the TF-Inception pool3 network, no classifier
    code, out, err = run_cli(["score", real, fake, "--weights", features_only_weights, "--json", *SMALL_CLI], capsys)
    assert code == 0, err
    r = json.loads(out)
    assert "is" not in r and "is_real" not in r and {"fid", "kid", "precision", "coverage"} <= set(r)
    assert "features only" in r["skipped"]["is"]
    assert len([line for line in err.splitlines() if line.startswith("warning: skipped is")]) == 1
    # named explicitly, IS is an error, not a silent skip
    code, _, err = run_cli(["score", real, fake, "--weights", features_only_weights, "--metrics", "fid,is"], capsys)
    assert code == 2 and "features only" in err


def test_metrics_is_does_not_read_real(images, random_weights, capsys):
    real, fake = images
    code, out, err = run_cli(["score", real.parent / "no-such-folder", fake, "--metrics", "is", "--is-splits", "2",
                              "--weights", random_weights, "--json"], capsys)
    assert code == 0, err
    r = json.loads(out)
    assert r["inputs"]["real"] is None and r["n_real"] is None and r["cache"]["real"] is None
    assert "REAL is not read" in err


def test_train_resume_below_the_checkpoint_says_so_and_ctrl_c_says_how_to_resume(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    args = ["train", "gan2014", "--dataset", "ring", "--out", out, "--checkpoint-every", "2",
            "--batch-size", "8", "--eval-samples", "64"]
    code, _, err = run_cli([*args, "--steps", "2", "--quiet"], capsys)
    assert code == 0, err
    code, _, err = run_cli([*args, "--steps", "1", "--resume"], capsys)
    assert code == 0 and "--steps 1 is below the checkpoint's step 2: nothing trained" in err

    import gan_eval_models.train as train_mod

    def interrupted(cfg, resume=False, overwrite=False):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "train", interrupted)
    code, _, err = run_cli([*args, "--steps", "4", "--resume"], capsys)
    assert code == 130
    assert f"the checkpoint is in {out / 'checkpoint.pt'}" in err and f"--out {out} --resume" in err


def test_ambiguous_cache_reference_picks_the_runs_settings(tmp_path):
    from gan_eval import cache as feature_cache
    from gan_eval.stats import Statistics

    feats = np.random.default_rng(0).normal(size=(4, 2048)).astype(np.float32)
    for resize in ("tensorflow", "clean"):
        feature_cache.store("fp", "w" * 64, resize, "fp32", "data/real", "/abs/data/real",
                            Statistics.from_features(feats), {"pool3": feats})
    with pytest.raises(ValueError, match="2 cache entries match"):
        feature_cache.find("data/real")
    e = feature_cache.find("data/real", prefer={"weights_sha256": "w" * 64, "resize": "clean", "precision": "fp32"})
    assert e.meta["resize"] == "clean"


def test_parzen_with_fewer_centres_and_a_fixed_sigma_warns_and_proceeds(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "samples.npy", rng.random((50, 4)))
    np.save(tmp_path / "test.npy", rng.random((20, 4)))
    code, out, err = run_cli(["parzen", tmp_path / "samples.npy", tmp_path / "test.npy", "--sigma", "0.2", "--json"],
                             capsys)
    assert code == 0, err
    assert "50 samples, fewer than the 10,000 kernel centres of the protocol" in err
    assert json.loads(out)["n_centres"] == 50
