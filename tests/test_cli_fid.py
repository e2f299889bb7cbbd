"""`gan-eval fid` / `gan-eval stats` end to end (random weights, committed fixtures) and bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from _cli import run_cli as run


@pytest.fixture(scope="module")
def fixture_fid(random_weights, fixtures_dir):
    """The reference value through the Python API, computed once."""
    import warnings

    from gan_eval import fid

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fid(fixtures_dir / "real", fixtures_dir / "fake", weights=random_weights, batch_size=20,
                   progress=False, num_workers=0, cache=False)  # module scope: no per-test cache dir yet


def test_fid_json_and_text(random_weights, fixtures_dir, fixture_fid, capsys):
    code, out, err = run(["fid", fixtures_dir / "real", fixtures_dir / "fake", "--weights", random_weights,
                          "--json", "--batch-size", "20", "--num-workers", "0"], capsys)
    assert code == 0, err
    r = json.loads(out)
    assert set(r) == {"fid", "n1", "n2", "features", "resize", "weights_sha256", "network_precision", "inputs"}
    assert r["features"] == "inception"
    assert r["n1"] == r["n2"] == 20 and r["resize"] == "tensorflow" and r["network_precision"] == "fp32"
    assert r["fid"] == pytest.approx(fixture_fid["fid"], rel=1e-6) and r["fid"] > 1.0  # same pipeline; float32 network
    assert "2048" in err  # the small-sample warning, one line
    code, out, _ = run(["fid", fixtures_dir / "real", fixtures_dir / "fake", "--weights", random_weights, "--quiet",
                        "--batch-size", "20"], capsys)
    assert code == 0 and out.startswith("FID: ") and float(out.split()[1]) == pytest.approx(r["fid"], rel=1e-6)


def test_stats_file_replaces_a_folder(random_weights, fixtures_dir, fixture_fid, tmp_path, capsys):
    out_npz = tmp_path / "real_stats.npz"
    code, _, err = run(["stats", fixtures_dir / "real", "-o", out_npz, "--weights", random_weights, "--quiet",
                        "--batch-size", "20"], capsys)
    assert code == 0, err
    with np.load(out_npz) as d:
        assert d["mu"].shape == (2048,) and d["sigma"].shape == (2048, 2048) and int(d["n"]) == 20
        assert d["mu"].dtype == np.float64
    code, out, err = run(["fid", out_npz, fixtures_dir / "fake", "--weights", random_weights, "--json", "--quiet",
                          "--batch-size", "20"], capsys)
    assert code == 0, err
    # The fake side keeps its 20 features, so the exact low-rank form applies: same value as folder vs folder.
    assert json.loads(out)["fid"] == pytest.approx(fixture_fid["fid"], rel=1e-6)
    code, out, _ = run(["fid", out_npz, out_npz, "--json"], capsys)  # statistics only: no network, no weights
    r = json.loads(out)
    from gan_eval.features.weights import sha256_of

    # statistics files carry their provenance: the result states it although no network ran
    assert code == 0 and abs(r["fid"]) < 1e-6 and r["weights_sha256"] == sha256_of(random_weights)
    assert r["resize"] == "tensorflow" and [s["kind"] for s in r["inputs"]] == ["statistics"] * 2


def _bad_cases(tmp_path, fixtures_dir, random_weights):
    (tmp_path / "empty").mkdir()
    (tmp_path / "noimg").mkdir()
    (tmp_path / "noimg" / "x.txt").write_text("x")
    (tmp_path / "one").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "one" / "a.png")
    (tmp_path / "corrupt").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "corrupt" / "a.png")
    (tmp_path / "corrupt" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    np.savez(tmp_path / "nomu.npz", foo=np.zeros(3))
    np.savez(tmp_path / "s3.npz", mu=np.zeros(3), sigma=np.eye(3))
    np.savez(tmp_path / "s4.npz", mu=np.zeros(4), sigma=np.eye(4))
    np.savez(tmp_path / "nan.npz", mu=np.array([np.nan, 0, 0]), sigma=np.eye(3))
    np.save(tmp_path / "inf.npy", np.full((3, 8, 8, 3), np.inf, np.float32))
    (tmp_path / "w.pth").write_bytes(b"\0" * 1000)
    real = fixtures_dir / "real"
    w = ["--weights", random_weights]
    return [
        (["fid", tmp_path / "missing", real], "missing: no such file"),
        (["fid", tmp_path / "empty", real, *w], "empty"),
        (["fid", tmp_path / "noimg", real, *w], "no image files"),
        (["fid", tmp_path / "one", real, *w], "at least 2 images"),
        (["fid", tmp_path / "corrupt", real, *w], "b.png"),
        (["fid", tmp_path / "nomu.npz", real, *w], "neither statistics"),
        (["fid", tmp_path / "s3.npz", tmp_path / "s4.npz"], "dimension mismatch"),
        (["fid", tmp_path / "nan.npz", tmp_path / "s3.npz"], "NaN"),
        (["fid", tmp_path / "inf.npy", real, *w], "NaN or infinite"),
        (["fid", real, real, "--resize", "bicubic", *w], "bicubic"),
        (["fid", real, real, "--weights", tmp_path / "w.pth"], "w.pth"),
        (["fid", real, real, "--weights", tmp_path / "nope.pth"], "not found"),
        (["fid", real], "Missing argument"),
    ]


def test_bad_inputs_exit_2_with_one_clear_line(tmp_path, fixtures_dir, random_weights, capsys):
    for args, message in _bad_cases(tmp_path, fixtures_dir, random_weights):
        code, out, err = run(args, capsys)
        assert code == 2, (args, err)
        assert message in err, (args, err)
        assert "Traceback" not in err and out == ""


def test_offline_without_weights_is_a_clear_error(fixtures_dir, monkeypatch, capsys):
    import urllib.error
    import urllib.request

    def offline(url, timeout=None):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    code, _, err = run(["fid", fixtures_dir / "real", fixtures_dir / "fake"], capsys)
    assert code == 2 and "could not download" in err and "--weights" in err


def test_python_dash_m_is_the_same_cli(fixtures_dir):
    r = subprocess.run([sys.executable, "-m", "gan_eval", "fid", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "Fréchet Inception Distance" in r.stdout
    r = subprocess.run([sys.executable, "-m", "gan_eval", "fid", str(fixtures_dir / "nope"), "x"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
