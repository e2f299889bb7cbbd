"""Hostile and degenerate input: every case exits 2 with one `error:` line (never 1, never 130,
never a traceback) and leaves nothing half-written; no command prints a NaN or an infinity.

Full disks are simulated by making the writes of `gan_eval.atomic` fail with ENOSPC after a few
bytes (tests/_faults.py); unwritable places by a path whose parent is a regular file (ENOTDIR:
tests run as root, for whom chmod does not block writes).
"""

import json
import math
import os

import numpy as np
import pytest
import torch

from _cli import run_cli
from _faults import fill_disk, no_temp_files
from _score_data import copy_images, install_fake_net
from gan_eval.errors import GanEvalError


def one_error_line(code, err, *fragments):
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for f in fragments:
        assert f in err, err


@pytest.fixture
def net(monkeypatch):
    return install_fake_net(monkeypatch)


@pytest.fixture
def ok_npy(tmp_path):
    path = tmp_path / "ok.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8))
    return path


def _write(path, make):
    make(path)
    return path


DEGENERATE = {
    "empty array": ("x.npy", lambda p: np.save(p, np.zeros((0, 16, 16, 3), np.uint8)), "holds no images"),
    "0x0 images": ("x.npy", lambda p: np.save(p, np.zeros((4, 0, 0, 3), np.uint8)), "hold no pixels"),
    "0x0 images NCHW": ("x.npy", lambda p: np.save(p, np.zeros((4, 3, 0, 5), np.uint8)), "hold no pixels"),
    "object .npy": ("x.npy", lambda p: np.save(p, np.array([1, "a"], dtype=object), allow_pickle=True), "cannot read"),
    "object .npz": ("x.npz", lambda p: np.savez(p, images=np.array([1, "a"], dtype=object)), "cannot read array"),
    "zero-byte .npy": ("x.npy", lambda p: p.write_bytes(b""), "cannot read .npy"),
    "zero-byte .npz": ("x.npz", lambda p: p.write_bytes(b""), "cannot read .npz"),
    "truncated .npz": ("x.npz", lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 10), "cannot read .npz"),
    "empty statistics": ("x.npz", lambda p: np.savez(p, mu=np.zeros(0), sigma=np.zeros((0, 0))), "empty statistics"),
    "statistics of n = 0": ("x.npz", lambda p: np.savez(p, mu=np.zeros(2), sigma=np.eye(2), n=0), "statistics of no images"),
}


@pytest.mark.parametrize("case", DEGENERATE)
def test_degenerate_input_exits_2(tmp_path, ok_npy, random_weights, net, capsys, case):
    name, make, message = DEGENERATE[case]
    bad = _write(tmp_path / name, make)
    code, out, err = run_cli(["fid", bad, ok_npy, "--weights", random_weights, "-q"], capsys)
    one_error_line(code, err, message)


def test_zero_byte_weights_exit_2(tmp_path, ok_npy, capsys):
    (tmp_path / "w.pth").write_bytes(b"")
    code, out, err = run_cli(["fid", ok_npy, ok_npy, "--weights", tmp_path / "w.pth", "-q"], capsys)
    one_error_line(code, err, "not a readable weights file")


def test_an_image_given_as_weights_exits_2_without_unsafe_advice(tmp_path, ok_npy, capsys):
    """PyTorch's own message for such a file suggests weights_only=False (unpickling arbitrary
    code); gan-eval names the file's problem instead."""
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "w.png")
    for features in ("inception", "dinov2-vitb14"):
        code, out, err = run_cli(["fid", ok_npy, ok_npy, "--features", features, "--weights", tmp_path / "w.png",
                                  "-q"], capsys)
        one_error_line(code, err, "not a readable weights file (not a PyTorch file)")
        assert "weights_only" not in err


def _covariance_file(path, sigma):
    np.savez(path, mu=np.zeros(len(sigma)), sigma=sigma)
    return path


def test_statistics_must_hold_a_covariance(tmp_path, capsys):
    """Symmetric PSD up to float32 round-off is accepted (a rank-deficient sample covariance of
    float32 features, n < d, as pytorch-fid writes it); asymmetric or indefinite is refused."""
    feats = np.random.default_rng(0).normal(size=(50, 256)).astype(np.float32)
    good = _covariance_file(tmp_path / "good.npz", np.cov(feats, rowvar=False))
    assert np.linalg.eigvalsh(np.cov(feats, rowvar=False))[0] < 0  # round-off below zero: must still pass
    a = np.random.default_rng(1).normal(size=(256, 256))
    cases = {"not symmetric": a @ a.T + np.triu(np.full((256, 256), 1.0), 1),
             "not positive semi-definite": a + a.T}
    code, out, err = run_cli(["fid", good, good, "--json"], capsys)
    assert code == 0 and json.loads(out)["fid"] == pytest.approx(0.0, abs=1e-6), err
    for what, sigma in cases.items():
        bad = _covariance_file(tmp_path / "bad.npz", sigma)
        code, out, err = run_cli(["fid", bad, good], capsys)
        one_error_line(code, err, what)


@pytest.mark.parametrize("args, message", [
    (["--batch-size", 0], "--batch-size"),
    (["--batch-size", 2**70], "--batch-size"),
    (["--batch-size", -3], "--batch-size"),
])
def test_out_of_range_integers_exit_2(ok_npy, random_weights, capsys, args, message):
    code, out, err = run_cli(["fid", ok_npy, ok_npy, "--weights", random_weights, *args], capsys)
    one_error_line(code, err, message)


@pytest.mark.parametrize("seed", [-1, 2**32, 2**70])
def test_out_of_range_seed_exits_2(ok_npy, random_weights, capsys, seed):
    code, out, err = run_cli(["score", ok_npy, ok_npy, "--metrics", "kid", "--weights", random_weights,
                              "--seed", seed], capsys)
    one_error_line(code, err, "--seed")


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    from gan_eval_models.train import TrainConfig, train

    out = tmp_path_factory.mktemp("ring") / "run"
    train(TrainConfig("dcgan", "ring", steps=2, out=str(out), width=8, batch_size=8, eval_samples=50, quiet=True))
    return out


@pytest.mark.parametrize("args, message", [
    (["-n", 0], "-n"),
    (["-n", 2**70], "-n"),
    (["-n", 2**31 - 1], "more than this machine's"),
    (["-n", 4, "--seed", -1], "--seed"),
    (["-n", 4, "--batch-size", 0], "--batch-size"),
])
def test_sample_counts_out_of_range_exit_2(ring_run, tmp_path, capsys, args, message):
    code, out, err = run_cli(["sample", ring_run, "-o", tmp_path / "s.npz", *args], capsys)
    one_error_line(code, err, message)
    assert not (tmp_path / "s.npz").exists()


def test_tiny_truncation_finishes_exactly():
    """ψ far below where rejection works: inverse-CDF truncation, every |z| ≤ ψ, and the variance
    of N(0,1) truncated to [−ψ, ψ], 1 − 2ψφ(ψ)/erf(ψ/√2) (closed form; ≈ ψ²/3 for tiny ψ)."""
    from gan_eval_models.models.latent import sample_latent

    for psi in (1e-8, 0.05, 0.3):
        z = sample_latent(200_000, 4, "gaussian", torch.Generator().manual_seed(0), truncation=psi)
        phi = math.exp(-psi**2 / 2) / math.sqrt(2 * math.pi)
        var = psi**2 / 3 if psi < 1e-3 else 1 - 2 * psi * phi / math.erf(psi / math.sqrt(2))
        assert float(z.abs().max()) <= psi and abs(z.double().var().item() / var - 1) < 0.01


def test_sample_with_tiny_truncation(ring_run, tmp_path, capsys):
    code, out, err = run_cli(["sample", ring_run, "-n", 50, "-o", tmp_path / "t.npz", "--truncation", 1e-12], capsys)
    assert code == 0, err
    pts = np.load(tmp_path / "t.npz")["samples"]
    assert pts.shape == (50, 2) and np.isfinite(pts).all() and np.ptp(pts, axis=0).max() < 1e-3  # one point, G(≈0)


def test_sample_output_full_or_unwritable(ring_run, tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("x")
    code, out, err = run_cli(["sample", ring_run, "-n", 4, "-o", tmp_path / "file" / "s.npz"], capsys)
    one_error_line(code, err, "cannot write the samples")
    fill_disk(monkeypatch, room=64)
    code, out, err = run_cli(["sample", ring_run, "-n", 4, "-o", tmp_path / "s.npz"], capsys)
    one_error_line(code, err, "No space left on device")
    assert not (tmp_path / "s.npz").exists() and no_temp_files(tmp_path) == []


def _images(n, side=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def test_png_samples_replace_whole_and_survive_a_full_disk(tmp_path, monkeypatch):
    from gan_eval_models.sample import write_samples

    out = tmp_path / "s"
    write_samples(_images(12), out)
    write_samples(_images(5, seed=1), out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.png" for i in range(5)]  # none of the old 12 left
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    fill_disk(monkeypatch, room=50)  # per file: the first PNG fails
    with pytest.raises(GanEvalError, match="No space left on device"):
        write_samples(_images(7, seed=2), out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the old draw, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no temporary folder left
    monkeypatch.undo()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(GanEvalError, match=r"holds files that are not samples \(notes.txt\)"):
        write_samples(_images(3), out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine" and len(list(out.iterdir())) == 6


def test_stats_output_full_or_unwritable(tmp_path, fixtures_dir, random_weights, net, monkeypatch, capsys):
    src = copy_images(fixtures_dir / "real", tmp_path / "imgs", 3)
    (tmp_path / "file").write_text("x")
    code, out, err = run_cli(["stats", src, "-o", tmp_path / "file" / "s.npz", "--weights", random_weights, "-q"], capsys)
    one_error_line(code, err, "cannot write the statistics")
    fill_disk(monkeypatch, room=1000)
    code, out, err = run_cli(["stats", src, "-o", tmp_path / "s.npz", "--weights", random_weights, "-q"], capsys)
    one_error_line(code, err, "No space left on device")
    assert not (tmp_path / "s.npz").exists() and no_temp_files(tmp_path) == []


def test_hype_session_full_or_unwritable(tmp_path, fixtures_dir, monkeypatch):
    from gan_eval.hype.session import open_session

    real, fake = fixtures_dir / "real", fixtures_dir / "fake"
    (tmp_path / "file").write_text("x")
    with pytest.raises(GanEvalError, match="cannot create the session folder"):
        open_session(tmp_path / "file" / "s", real, fake, n=4)
    fill_disk(monkeypatch, room=50)
    with pytest.raises(GanEvalError, match="cannot write the schedule.*No space left on device"):
        open_session(tmp_path / "s", real, fake, n=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # no half-made session


def test_hype_serve_unwritable_session_exits_2(tmp_path, fixtures_dir, capsys):
    (tmp_path / "file").write_text("x")
    code, out, err = run_cli(["hype", "serve", fixtures_dir / "real", fixtures_dir / "fake", "--n", 4,
                              "--session", tmp_path / "file" / "s", "--port", 0], capsys)
    one_error_line(code, err, "cannot create the session folder")


def _points(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "c.npy", rng.normal(size=(100, 2)))
    np.save(tmp_path / "t.npy", rng.normal(size=(100, 2)))
    return tmp_path / "c.npy", tmp_path / "t.npy"


@pytest.mark.parametrize("sigma", ["1e300", "1e-300", "1e-200"])
def test_parzen_sigma_outside_float64_is_refused(tmp_path, capsys, sigma):
    c, t = _points(tmp_path)
    code, out, err = run_cli(["parzen", c, t, "--sigma", sigma, "--n-centres", 100, "--json", "-q"], capsys)
    one_error_line(code, err, "sigma must lie in")
    assert out == ""


def test_parzen_extreme_sigmas_in_range_are_exact_or_refused(tmp_path, capsys):
    """σ = 1e149: every kernel is flat, log p = −log(2πσ²) for d = 2 (closed form). σ = 1e-140:
    finite per-point values whose spread overflows float64 is refused, never printed as inf/NaN."""
    c, t = _points(tmp_path)
    code, out, err = run_cli(["parzen", c, t, "--sigma", "1e149", "--n-centres", 100, "--json", "-q"], capsys)
    assert code == 0, err
    assert json.loads(out)["mean"] == pytest.approx(-(math.log(2 * math.pi) + 2 * math.log(1e149)), rel=1e-12)
    code, out, err = run_cli(["parzen", c, t, "--sigma", "1e-140", "--n-centres", 100, "--json", "-q"], capsys)
    if code == 0:
        assert "NaN" not in out and "Infinity" not in out and math.isfinite(json.loads(out)["sem"])
    else:
        one_error_line(code, err, "not a finite number")


def test_no_nan_or_infinity_is_ever_printed(capsys):
    from gan_eval.cli.common import emit

    for value in (float("nan"), float("inf"), np.float32("-inf"), np.array([1.0, np.nan])):
        for as_json in (True, False):
            with pytest.raises(GanEvalError, match="not a finite number"):
                emit({"ok": 1.0, "nested": [{"x": value}]}, as_json, ["text"])
    assert capsys.readouterr().out == ""
    emit({"x": 1.5, "n": 3, "s": "nan"}, True, [])
    assert json.loads(capsys.readouterr().out) == {"x": 1.5, "n": 3, "s": "nan"}


@pytest.mark.parametrize("command", ["fid", "score"])
def test_bootstrap_without_ci_is_refused_not_ignored(ok_npy, capsys, command):
    code, out, err = run_cli([command, ok_npy, ok_npy, "--bootstrap", "50", "-q"], capsys)
    one_error_line(code, err, "--bootstrap sets the resamples of --ci")
