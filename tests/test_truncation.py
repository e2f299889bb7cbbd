"""The truncation sweep: latent truncation variants, the sweep's rows, the CLI and the figure."""

import json

import numpy as np
import pytest
import torch
from _cli import run_cli as run

from gan_eval.errors import GanEvalError
from gan_eval_models.truncation import parse_psi, truncated_latent, truncation_sweep


def test_scale_variant_is_psi_times_the_untruncated_draw():
    """z' = z̄ + ψ(z − z̄) with z̄ = 0: the same seed gives exactly ψ times the untruncated latent."""
    z = truncated_latent(50, 8, "gaussian", torch.Generator().manual_seed(3))
    z_half = truncated_latent(50, 8, "gaussian", torch.Generator().manual_seed(3), 0.5, "scale")
    assert torch.equal(z_half, 0.5 * z)
    assert torch.equal(truncated_latent(50, 8, "uniform", torch.Generator().manual_seed(3), 1.5, "scale"),
                       1.5 * truncated_latent(50, 8, "uniform", torch.Generator().manual_seed(3)))


def test_resample_variant_bounds_every_component():
    z = truncated_latent(2000, 16, "gaussian", torch.Generator().manual_seed(0), 0.25, "resample")
    assert float(z.abs().max()) <= 0.25
    # a N(0,1) truncated to [-a, a] has variance 1 - 2a φ(a) / (2Φ(a) - 1); for a = 0.25 that is 0.0206
    assert abs(float(z.var()) - 0.02061) < 0.002


def test_parse_psi_and_bad_variant():
    assert parse_psi("0.25, 1,1.5") == (0.25, 1.0, 1.5)
    for bad in ("", "0,1", "a", "-1", "nan"):
        with pytest.raises(GanEvalError, match="psi must be"):
            parse_psi(bad)
    with pytest.raises(GanEvalError, match="unknown truncation variant"):
        truncated_latent(2, 2, "gaussian", torch.Generator(), 1.0, "clip")


def test_multi_network_runs_and_too_few_real_images_are_refused(tmp_path, capsys):
    run_dir = tmp_path / "sg"
    run_dir.mkdir()
    np.savez(tmp_path / "real.npz", images=np.zeros((8, 28, 28, 1), np.uint8))
    (run_dir / "config.json").write_text(json.dumps({"family": "stackgan", "config": {}}))
    with pytest.raises(GanEvalError, match="a stackgan run; the truncation sweep takes runs of `gan-eval train`"):
        truncation_sweep(run_dir, tmp_path / "real.npz", n=10)
    code, out, err = run(["truncation", run_dir, tmp_path / "real.npz", "-n", "10", "--n-real", "0"], capsys)
    assert code == 2 and "n_real (--n-real) must be an integer >= 6, got 0" in err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mnist_dir):
    from gan_eval_models.train import TrainConfig, train

    out = tmp_path_factory.mktemp("trunc") / "run"
    torch.set_num_threads(1)
    train(TrainConfig(model="dcgan", dataset="mnist", steps=2, out=str(out), width=8, batch_size=16, eval_samples=20,
                      quiet=True, data_dir=str(mnist_dir)))
    from gan_eval_models.datasets.mnist import load_mnist

    real = tmp_path_factory.mktemp("real") / "real.npz"
    np.savez(real, images=np.array(load_mnist(mnist_dir, "test")[0][:300])[..., None])
    return out, real


def test_sweep_rows_and_paired_draws(tiny_run):
    run_dir, real = tiny_run
    r = truncation_sweep(run_dir, real, psi=(0.5, 2.0), n=60, features="mnist-classifier")
    assert [(row["variant"], row["psi"]) for row in r["rows"]] == [
        ("none", None), ("resample", 0.5), ("resample", 2.0), ("scale", 0.5), ("scale", 2.0)]
    for row in r["rows"]:
        for key in ("fid", "precision", "recall", "density", "coverage", "classifier_is"):
            assert np.isfinite(row[key]), (row, key)
        assert 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1 and 1 <= row["classifier_is"] <= 10
    assert r["n_real"] == 300 and r["features"] == "mnist-classifier"
    again = truncation_sweep(run_dir, real, psi=(0.5,), n=60, variants=("scale",), features="mnist-classifier")
    assert again["rows"][1]["fid"] == r["rows"][3]["fid"]  # same seed, same samples, same score


def test_real_images_of_another_shape_are_refused(tiny_run, tmp_path):
    """Colour 32-px images against a 28-px grey generator: both would be resized alike and score
    a plausible but meaningless number."""
    run_dir, _ = tiny_run
    np.savez(tmp_path / "colour.npz", images=np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), np.uint8))
    with pytest.raises(GanEvalError, match="REAL holds 32x32 colour images but the run generates 28x28 grey ones"):
        truncation_sweep(run_dir, tmp_path / "colour.npz", n=10, features="mnist-classifier")


def test_cli_json_and_figure(tiny_run, tmp_path, capsys):
    run_dir, real = tiny_run
    fig = tmp_path / "sweep.png"
    code, out, err = run(["truncation", run_dir, real, "--psi", "0.5,1.0", "-n", "40", "--features", "mnist-classifier",
                          "--json", "--figure", fig], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert {"fid", "precision", "recall", "density", "coverage"} <= set(result["rows"][1])
    assert fig.stat().st_size > 1000
    code, out, err = run(["truncation", run_dir, real, "--psi", "0,1", "--features", "mnist-classifier"], capsys)
    assert code == 2 and err.startswith("error: --psi must be")  # the CLI names its option


def test_sweep_with_inception_features(tiny_run, torchscript_weights):
    """One ψ with the real TF-Inception pool3 features (slow on a CPU: few images)."""
    run_dir, real = tiny_run
    r = truncation_sweep(run_dir, real, psi=(1.0,), n=12, variants=("scale",), n_real=12, weights=torchscript_weights)
    assert r["features"] == "inception" and all(np.isfinite(row["fid"]) for row in r["rows"])
