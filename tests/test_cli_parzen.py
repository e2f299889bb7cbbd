"""`gan-eval parzen`: input forms, output, and exit code 2 with a clear message on bad input.

The numbers are checked against an independent float64 logsumexp computation (scipy) of the
paper's protocol on the same rows.
"""

import json
import math
import re

import numpy as np
import pytest
from scipy.special import logsumexp

from _cli import run_cli as run
from gan_eval.idx import read_idx


def protocol_reference(centres, val, test, sigmas):
    def ll(x, s):
        sq = ((x[:, None, :] - centres[None]) ** 2).sum(2)
        return logsumexp(-sq / (2 * s * s), axis=1) - math.log(len(centres)) - 0.5 * centres.shape[1] * math.log(2 * math.pi * s * s)

    scores = [ll(val, s).mean() for s in sigmas]
    sigma = sigmas[int(np.argmax(scores))]
    t = ll(test, sigma)
    return sigma, t.mean(), t.std() / math.sqrt(len(t)), scores


@pytest.fixture
def small_images(tmp_path):
    rng = np.random.default_rng(0)
    def imgs(n):
        return np.where(rng.random((n, 8, 8)) < 0.2, rng.integers(150, 256, (n, 8, 8)), 0).astype(np.uint8)
    paths = {}
    for name, n in (("samples", 60), ("val", 30), ("test", 25)):
        arr = imgs(n)
        np.save(tmp_path / f"{name}.npy", arr)
        np.save(tmp_path / f"{name}_float.npy", arr.astype(np.float64) / 255.0)
        paths[name] = arr
    return tmp_path, paths


def test_npy_inputs(small_images, capsys):
    d, arrays = small_images
    code, out, err = run([
        "parzen", str(d / "samples.npy"), str(d / "test.npy"), "--validation", str(d / "val.npy"),
        "--sigmas", "0.1,0.2,0.4,0.8", "--n-centres", "50", "--n-validation", "20", "--json", "--device", "cpu"], capsys)
    assert code == 0, err
    r = json.loads(out)
    unit = {k: v.reshape(len(v), -1) / 255.0 for k, v in arrays.items()}
    sigma, mean, sem, scores = protocol_reference(unit["samples"][:50], unit["val"][:20], unit["test"], [0.1, 0.2, 0.4, 0.8])
    assert r["sigma"] == sigma and r["n_centres"] == 50 and r["n_test"] == 25 and r["n_validation"] == 20
    assert r["mean"] == pytest.approx(mean, rel=1e-9) and r["sem"] == pytest.approx(sem, rel=1e-9)
    np.testing.assert_allclose(r["validation_scores"], scores, rtol=1e-9)

    # float arrays in [0, 1] are used as they are: same numbers; text output
    code, out, err = run([
        "parzen", str(d / "samples_float.npy"), str(d / "test_float.npy"), "--validation", str(d / "val_float.npy"),
        "--sigmas", "0.1,0.2,0.4,0.8", "--n-centres", "50", "--n-validation", "20", "--device", "cpu"], capsys)
    assert code == 0, err
    m = re.fullmatch(r"Parzen LL: (-?[\d.]+) ± ([\d.]+) \(sigma=([\d.]+)\)\n", out)
    assert m, out
    assert float(m.group(1)) == pytest.approx(mean, abs=0.006) and float(m.group(3)) == pytest.approx(sigma)


def test_fixed_sigma_and_n_test(small_images, capsys):
    d, arrays = small_images
    code, out, err = run(["parzen", str(d / "samples.npy"), str(d / "test.npy"), "--sigma", "0.3", "--n-centres", "60",
                          "--n-test", "10", "--json", "--device", "cpu"], capsys)
    assert code == 0, err
    r = json.loads(out)
    c = arrays["samples"].reshape(60, -1) / 255.0
    t = arrays["test"][:10].reshape(10, -1) / 255.0
    sq = ((t[:, None] - c[None]) ** 2).sum(2)
    ll = logsumexp(-sq / 0.18, axis=1) - math.log(60) - 32 * math.log(2 * math.pi * 0.09)
    assert r["sigma"] == 0.3 and r["n_test"] == 10 and r["mean"] == pytest.approx(ll.mean(), rel=1e-9)


def test_mnist_shorthand(mnist_dir, capsys, monkeypatch):
    """Real MNIST: 300 training images as centres, σ on 100 validation images, 200 test images."""
    monkeypatch.delenv("GAN_EVAL_DATA", raising=False)
    args = ["parzen", "mnist:train", "mnist:test", "--validation", "mnist:validation", "--data-dir", str(mnist_dir),
            "--n-centres", "300", "--n-validation", "100", "--n-test", "200", "--sigmas", "0.1,0.2,0.3", "--json",
            "--device", "cpu"]
    code, out, err = run(args, capsys)
    assert code == 0, err
    r = json.loads(out)
    train = read_idx(mnist_dir / "train-images-idx3-ubyte.gz").reshape(-1, 784)[:50_100] / 255.0
    test = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz").reshape(-1, 784)[:200] / 255.0
    sigma, mean, sem, _ = protocol_reference(train[:300], train[50_000:50_100], test[:200], [0.1, 0.2, 0.3])
    assert r["sigma"] == sigma and r["mean"] == pytest.approx(mean, rel=1e-9) and r["sem"] == pytest.approx(sem, rel=1e-9)
    # the same through the environment variable
    monkeypatch.setenv("GAN_EVAL_DATA", str(mnist_dir))
    code, out2, err = run([a for a in args if a not in ("--data-dir", str(mnist_dir))], capsys)
    assert code == 0, err and json.loads(out2) == r


def test_float_outside_unit_range_warns(tmp_path, capsys):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "s.npy", rng.uniform(-1, 1, (20, 16)))
    np.save(tmp_path / "t.npy", rng.uniform(0, 1, (5, 16)))
    code, out, err = run(["parzen", str(tmp_path / "s.npy"), str(tmp_path / "t.npy"), "--sigma", "0.5",
                          "--n-centres", "20", "--device", "cpu"], capsys)
    assert code == 0 and "warning:" in err and "not [0, 1]" in err
    code, out, err = run(["parzen", str(tmp_path / "s.npy"), str(tmp_path / "t.npy"), "--sigma", "0.5",
                          "--n-centres", "20", "--device", "cpu", "--quiet"], capsys)
    assert code == 0 and err == ""


@pytest.mark.parametrize("extra,msg", [
    (["--sigma", "0"], "sigma must be a finite number > 0"),
    (["--sigma", "-0.2"], "sigma must be a finite number > 0"),
    (["--sigma", "nan"], "sigma must be a finite number > 0"),
    (["--validation", "VAL", "--sigmas", "0.1,x"], "--sigmas: expected comma-separated numbers"),
    (["--validation", "VAL", "--sigmas", "0.1,-1"], "sigma must be a finite number > 0"),
    ([], "--validation is needed"),
    (["--sigma", "0.2", "--n-centres", "500"], "samples: the protocol uses 500 rows but only 60 were given"),
    (["--validation", "VAL", "--n-validation", "100"], "validation: the protocol uses 100 rows but only 30"),
])
def test_bad_options_exit_2(small_images, capsys, extra, msg):
    d, _ = small_images
    extra = [str(d / "val.npy") if a == "VAL" else a for a in extra]
    if "--n-centres" not in extra:
        extra += ["--n-centres", "50"]
    code, out, err = run(["parzen", str(d / "samples.npy"), str(d / "test.npy"), "--device", "cpu"] + extra, capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and msg in err and len(err.strip().splitlines()) == 1


def _offline(*args, **kwargs):
    import urllib.error

    raise urllib.error.URLError("offline")


def test_bad_inputs_exit_2(small_images, tmp_path, capsys, monkeypatch):
    d, _ = small_images
    np.save(tmp_path / "wide.npy", np.zeros((10, 9, 9), dtype=np.uint8))
    np.save(tmp_path / "empty.npy", np.zeros((0, 16)))
    cases = [
        ([str(tmp_path / "missing.npy"), str(d / "test.npy")], "no such file or folder"),
        ([str(d / "samples.npy"), str(tmp_path / "wide.npy"), "--n-centres", "50"], "dimension mismatch"),
        ([str(tmp_path / "empty.npy"), str(d / "test.npy")], "expected an array of samples"),
        (["mnist:everything", str(d / "test.npy")], "nor a dataset name"),
        (["mnist:train", str(d / "test.npy")], "could not download train-images-idx3-ubyte.gz (offline?)"),
        (["mnist:train", str(d / "test.npy"), "--data-dir", str(tmp_path)], "train-images-idx3-ubyte.gz not found"),
    ]
    monkeypatch.delenv("GAN_EVAL_DATA", raising=False)
    # no folder given: the download cache under $HOME, offline here
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr("urllib.request.urlopen", _offline)
    for args, msg in cases:
        code, out, err = run(["parzen"] + args + ["--sigma", "0.3", "--device", "cpu"], capsys)
        assert code == 2, (args, err)
        assert err.startswith("error: ") and msg in err, (args, err)
