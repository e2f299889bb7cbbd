"""Provenance: statistics files and --json results say how their numbers were computed, and a
statistics file recorded with other settings than the run's is refused (gan_eval.provenance).

The network is the cheap FakeNet stand-in (tests/_score_data.py): what is under test is the
bookkeeping around it, not the features.
"""

import json

import numpy as np
import pytest

from _cli import run_cli
from _score_data import copy_images, install_fake_net
from gan_eval import GanEvalError
from gan_eval.provenance import INCEPTION_POOL3, Provenance


@pytest.fixture
def setup(tmp_path, fixtures_dir, random_weights, monkeypatch):
    from gan_eval.features.weights import sha256_of

    install_fake_net(monkeypatch)
    real = copy_images(fixtures_dir / "real", tmp_path / "real")
    fake = copy_images(fixtures_dir / "fake", tmp_path / "fake")
    return dict(real=real, fake=fake, w=["--weights", random_weights], sha=sha256_of(random_weights), tmp=tmp_path)


def _errors(err):
    return [line for line in err.splitlines() if line.startswith("error:")]


def _write_stats(path, record=None, d=2048, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(8, d))
    extra = {"provenance": np.array(record.to_json())} if record is not None else {}
    np.savez(path, mu=x.mean(0), sigma=np.cov(x, rowvar=False), **extra)
    return path


def test_stats_file_records_its_settings(setup, capsys):
    out = setup["tmp"] / "a.npz"
    code, stdout, err = run_cli(["stats", setup["real"], "-o", out, "--resize", "clean", "--json", "--quiet",
                                 *setup["w"]], capsys)
    assert code == 0, err
    with np.load(out) as d:
        record = json.loads(str(d["provenance"]))
        assert int(d["n"]) == 6 and d["mu"].shape == (2048,)
    from gan_eval import __version__

    assert record == {"features": INCEPTION_POOL3, "resize": "clean", "weights_sha256": setup["sha"],
                      "precision": "fp32", "gan_eval_version": __version__}
    assert json.loads(stdout)["resize"] == "clean" and json.loads(stdout)["weights_sha256"] == setup["sha"]


def test_fid_refuses_a_file_of_another_resize_mode_and_allows_it_on_request(setup, capsys):
    a = setup["tmp"] / "a.npz"
    assert run_cli(["stats", setup["real"], "-o", a, "--resize", "clean", "--quiet", *setup["w"]], capsys)[0] == 0
    code, out, err = run_cli(["fid", setup["fake"], a, "--quiet", *setup["w"]], capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    assert len(_errors(err)) == 1 and len(err.splitlines()) == 1
    assert "--resize clean" in err and "--resize tensorflow" in err and "--allow-mismatch" in err
    # the same pair with the file's own setting passes, and so does the override
    assert run_cli(["fid", setup["fake"], a, "--resize", "clean", "--quiet", *setup["w"]], capsys)[0] == 0
    code, out, err = run_cli(["fid", setup["fake"], a, "--allow-mismatch", "--json", *setup["w"]], capsys)
    assert code == 0 and "--resize clean" in err and err.count("warning:") >= 1
    r = json.loads(out)
    assert r["inputs"][1]["resize"] == "clean" and r["inputs"][0]["resize"] == "tensorflow"


@pytest.mark.parametrize("field,value,shown", [("weights_sha256", "0" * 64, "weights sha256 000000000000"),
                                               ("precision", "bf16", "--precision bf16")])
def test_fid_refuses_other_weights_or_precision(setup, field, value, shown, capsys):
    from dataclasses import replace

    from gan_eval.provenance import for_run

    record = replace(for_run("tensorflow", setup["sha"], "fp32"), **{field: value})
    f = _write_stats(setup["tmp"] / "s.npz", record)
    code, _, err = run_cli(["fid", f, setup["fake"], *setup["w"]], capsys)
    assert code == 2 and len(_errors(err)) == 1 and shown in err
    code, _, err = run_cli(["score", f, setup["fake"], "--metrics", "fid", *setup["w"]], capsys)
    assert code == 2 and len(_errors(err)) == 1 and shown in err


def test_tf32_on_cpu_is_recorded_as_fp32_and_warned(setup, capsys):
    from gan_eval.provenance import for_run

    f = _write_stats(setup["tmp"] / "s.npz", for_run("tensorflow", setup["sha"], "fp32"))
    code, out, err = run_cli(["fid", f, setup["fake"], "--precision", "tf32", "--json", *setup["w"]], capsys)
    assert code == 0, err
    assert "tf32 has no effect" in err and json.loads(out)["network_precision"] == "fp32"


def test_file_without_provenance_loads_with_one_warning(setup, capsys):
    f = _write_stats(setup["tmp"] / "pytorch_fid.npz")  # mu and sigma only, as pytorch-fid writes
    code, out, err = run_cli(["fid", f, setup["fake"], "--json", *setup["w"]], capsys)
    assert code == 0, err
    lines = [line for line in err.splitlines() if "without provenance" in line]
    assert len(lines) == 1 and "--resize tensorflow" in lines[0] and setup["sha"][:12] in lines[0]
    side = json.loads(out)["inputs"][0]
    assert side["provenance_recorded"] is False and side["kind"] == "statistics" and side["resize"] == "tensorflow"


def test_json_states_each_side_also_when_both_are_statistics_files(setup, capsys):
    a, b = setup["tmp"] / "a.npz", setup["tmp"] / "b.npz"
    for src, out in ((setup["real"], a), (setup["fake"], b)):
        assert run_cli(["stats", src, "-o", out, "--resize", "clean", "--quiet", *setup["w"]], capsys)[0] == 0
    code, out, err = run_cli(["fid", a, b, "--json"], capsys)  # no network runs: no weights needed
    assert code == 0, err
    r = json.loads(out)
    assert r["resize"] == "clean" and r["weights_sha256"] == setup["sha"] and r["network_precision"] == "fp32"
    for side, path in zip(r["inputs"], (a, b)):
        assert side == {"source": str(path), "kind": "statistics", "count": 6, "cache": None,
                        "features": INCEPTION_POOL3, "resize": "clean", "weights_sha256": setup["sha"],
                        "precision": "fp32", "gan_eval_version": side["gan_eval_version"],
                        "provenance_recorded": True}
    # two statistics files of different settings are refused against each other
    c = setup["tmp"] / "c.npz"
    assert run_cli(["stats", setup["fake"], "-o", c, "--quiet", *setup["w"]], capsys)[0] == 0
    code, _, err = run_cli(["fid", a, c], capsys)
    assert code == 2 and "--resize clean" in err and "--resize tensorflow" in err


def test_json_of_image_sides_names_source_count_and_cache(setup, capsys):
    args = ["fid", setup["real"], setup["fake"], "--json", "--quiet", *setup["w"]]
    r1 = json.loads(run_cli(args, capsys)[1])
    r2 = json.loads(run_cli(args, capsys)[1])
    assert [s["cache"] for s in r1["inputs"]] == ["miss", "miss"] and [s["cache"] for s in r2["inputs"]] == ["hit"] * 2
    assert [s["source"] for s in r2["inputs"]] == [str(setup["real"]), str(setup["fake"])]
    assert all(s["count"] == 6 and s["weights_sha256"] == setup["sha"] and s["kind"] == "images"
               for s in r2["inputs"])


@pytest.mark.parametrize("name,written", [("x.npy", "x.npy.npz"), ("noext", "noext.npz"), ("y.NPZ", "y.NPZ")])
def test_whatever_stats_writes_fid_reads(setup, name, written, capsys):
    code, out, err = run_cli(["stats", setup["real"], "-o", setup["tmp"] / name, "--json", "--quiet", *setup["w"]],
                             capsys)
    assert code == 0, err
    assert json.loads(out)["output"] == str(setup["tmp"] / written) and (setup["tmp"] / written).is_file()
    code, out, err = run_cli(["fid", setup["tmp"] / written, setup["tmp"] / written, "--json"], capsys)
    assert code == 0 and abs(json.loads(out)["fid"]) < 1e-6


def test_python_api_refuses_the_same_way(setup, monkeypatch):
    import gan_eval
    from gan_eval.streaming import FID

    f = _write_stats(setup["tmp"] / "s.npz", Provenance(resize="pytorch-fid", weights_sha256=setup["sha"],
                                                        precision="fp32", gan_eval_version="0"))
    weights = setup["w"][1]
    with pytest.raises(GanEvalError, match="--resize pytorch-fid.*--resize tensorflow"):
        gan_eval.fid(f, setup["fake"], weights=weights, progress=False)
    with pytest.raises(GanEvalError, match="--resize pytorch-fid"):
        FID(reference=f, weights=weights)
    assert FID(reference=f, weights=weights, resize="pytorch-fid").counts["real"] is None
    r = gan_eval.fid(f, setup["fake"], weights=weights, progress=False, quiet=True, allow_mismatch=True)
    assert r["inputs"][0]["resize"] == "pytorch-fid" and r["resize"] == "tensorflow"
    # compute_statistics takes images; a statistics file is a GanEvalError, not a TypeError
    with pytest.raises(GanEvalError, match="already a statistics file"):
        gan_eval.compute_statistics(f, weights=weights)
    # compute_statistics(output=...) writes the same record as `gan-eval stats`
    mu, sigma, n = gan_eval.compute_statistics(setup["real"], weights=weights, progress=False,
                                               output=setup["tmp"] / "api")
    from gan_eval.inputs import load_statistics

    back = load_statistics(setup["tmp"] / "api.npz")
    assert back.count == n == 6 and np.array_equal(back.mu, mu)
    assert back.provenance.resize == "tensorflow" and back.provenance.weights_sha256 == setup["sha"]
