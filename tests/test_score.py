"""`gan_eval.score` and `gan-eval score`: every metric from one pass of the random-weight network.

The reference values are the metric functions (fid_from_features, inception_score,
kernel_inception_distance, prdc) applied to the features the pass produced; the network itself is
tested in test_network.py.
"""

import json
import math

import numpy as np
import pytest

from _cli import run_cli
from _score_data import SMALL, SMALL_CLI, forbid_network, use_warm_cache, warm
from gan_eval import GanEvalError, score

METRIC_KEYS = ("fid", "is", "is_real", "kid", "precision", "recall", "density", "coverage")


@pytest.fixture(scope="session")
def warm_state(tmp_path_factory, fixtures_dir, random_weights):
    return warm(tmp_path_factory, fixtures_dir, random_weights)


@pytest.fixture
def warm_cache(warm_state, tmp_path, monkeypatch):
    return use_warm_cache(warm_state, tmp_path, monkeypatch)


def cached_features(warm_state):
    return warm_state["features"]


def test_api_reports_every_metric(warm_state, random_weights):
    from gan_eval.features.weights import sha256_of

    r = warm_state["result"]
    assert set(METRIC_KEYS) <= set(r)
    for key in ("fid", "precision", "recall", "density", "coverage"):
        assert math.isfinite(r[key])
    for key in ("is", "is_real", "kid"):
        assert math.isfinite(r[key]["mean"]) and math.isfinite(r[key]["std"]) and r[key]["std"] >= 0
    assert r["fid"] > 0 and r["is"]["mean"] >= 1 and r["is_real"]["mean"] >= 1
    assert all(0 <= r[k] <= 1 for k in ("precision", "recall", "coverage")) and r["density"] >= 0
    assert r["kid"]["subset_size"] == SMALL["kid_subset_size"] and r["kid"]["subsets"] == SMALL["kid_subsets"]
    assert (r["n_real"], r["n_fake"], r["resize"]) == (6, 6, "tensorflow")
    assert r["weights_sha256"] == sha256_of(random_weights)
    assert r["cache"] == {"real": "miss", "fake": "miss"}


def test_api_values_are_the_metric_functions_on_the_pass(warm_state):
    from gan_eval.metrics.fid import fid_from_features
    from gan_eval.metrics.inception_score import inception_score
    from gan_eval.metrics.kid import kernel_inception_distance
    from gan_eval.metrics.prdc import prdc

    r = warm_state["result"]
    f = cached_features(warm_state)
    real, fake = f["real"]["pool3"], f["fake"]["pool3"]
    # score() sums moments in float64 (Σxxᵀ − n μμᵀ), fid_from_features centres first (np.cov): the
    # random-weight features have |mean| >> std, so the two agree to ~1e-8 only.
    with pytest.warns(UserWarning):
        assert r["fid"] == pytest.approx(fid_from_features(real, fake), rel=1e-7)
    kid = kernel_inception_distance(real, fake, subsets=5, subset_size=4, seed=0)
    assert (r["kid"]["mean"], r["kid"]["std"]) == (kid["mean"], kid["std"])
    for key, value in prdc(real, fake).items():
        assert r[key] == value
    for side, key in (("fake", "is"), ("real", "is_real")):
        ref = inception_score(f[side]["logits_unbiased"], splits=2, seed=0)
        assert (r[key]["mean"], r[key]["std"]) == (ref["mean"], ref["std"])


def test_second_run_is_served_by_the_cache(warm_state, warm_cache, random_weights, monkeypatch):
    forbid_network(monkeypatch)
    r = score(warm_state["real"], warm_state["fake"], weights=random_weights, progress=False, quiet=True, **SMALL)
    assert r["cache"] == {"real": "hit", "fake": "hit"}
    first = dict(warm_state["result"], cache=r["cache"])
    first["inputs"] = {side: dict(v, cache="hit") for side, v in first["inputs"].items()}
    assert [r["inputs"][s]["cache"] for s in ("real", "fake")] == ["hit", "hit"]
    # The moments are re-summed from the stored features: equal up to float64 summation order.
    assert r.pop("fid") == pytest.approx(first.pop("fid"), rel=1e-12)
    assert r == first


def test_cli_json_has_everything(warm_state, warm_cache, random_weights, monkeypatch, capsys):
    forbid_network(monkeypatch)
    code, out, _ = run_cli(["score", str(warm_state["real"]), str(warm_state["fake"]), "--weights",
                            str(random_weights), "--json", "-q", *SMALL_CLI], capsys)
    assert code == 0
    r = json.loads(out)
    expected = dict(warm_state["result"], cache={"real": "hit", "fake": "hit"})
    assert r.keys() == expected.keys()
    assert r["fid"] == expected["fid"] and r["kid"] == expected["kid"] and r["is"] == expected["is"]
    assert r["n_real"] == 6 and r["weights_sha256"] == expected["weights_sha256"]


def test_cli_text_one_line_per_metric(warm_state, warm_cache, random_weights, monkeypatch, capsys):
    forbid_network(monkeypatch)
    code, out, _ = run_cli(["score", str(warm_state["real"]), str(warm_state["fake"]), "--weights",
                            str(random_weights), "--metrics", "kid,fid", "-q", *SMALL_CLI], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["FID", "KID"]
    assert "±" in lines[1] and "±" not in lines[0]
    assert float(lines[0].split()[1]) == pytest.approx(warm_state["result"]["fid"], rel=1e-4)


def test_unknown_metric_exits_2(tmp_path, capsys):
    code, _, err = run_cli(["score", str(tmp_path), str(tmp_path), "--metrics", "fid,bogus"], capsys)
    assert code == 2
    assert "unknown metric 'bogus'" in err and "fid, is, kid, prdc" in err
    with pytest.raises(GanEvalError, match="no metric given"):
        score(tmp_path, tmp_path, metrics="")


def _stats_file(warm_state, path):
    from gan_eval.stats import Statistics

    feats = cached_features(warm_state)["real"]["pool3"]
    st = Statistics.from_features(feats)
    np.savez(path, mu=st.mean, sigma=st.cov)
    return st


def test_statistics_as_real_with_fid_only(warm_state, warm_cache, random_weights, tmp_path, monkeypatch, capsys):
    """FID against mu/sigma of the real features equals the closed form on those moments."""
    from gan_eval.metrics.fid import fid_from_features
    from gan_eval.stats import Statistics

    forbid_network(monkeypatch)
    st = _stats_file(warm_state, tmp_path / "real_stats.npz")
    code, out, err = run_cli(["score", str(tmp_path / "real_stats.npz"), str(warm_state["fake"]), "--metrics", "fid",
                              "--weights", str(random_weights), "--json", "-q"], capsys)
    assert code == 0, err
    r = json.loads(out)
    assert set(r) >= {"fid", "n_real", "n_fake"} and "kid" not in r and r["n_real"] is None
    fake = cached_features(warm_state)["fake"]["pool3"]
    # From moments alone the exact low-rank route still applies through the fake features.
    from gan_eval.metrics.fid import fid_from_moments

    fs = Statistics.from_features(fake)
    expected = fid_from_moments(st.mean, st.cov, None, None, fs.mean, fs.cov, 6, fake, warn=False)
    assert r["fid"] == pytest.approx(expected, rel=1e-9)
    with pytest.warns(UserWarning):
        assert r["fid"] == pytest.approx(fid_from_features(cached_features(warm_state)["real"]["pool3"], fake),
                                         rel=1e-6)


def test_statistics_as_real_with_kid_exits_2(warm_state, tmp_path, monkeypatch, capsys):
    forbid_network(monkeypatch)
    np.savez(tmp_path / "s.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    code, _, err = run_cli(["score", str(tmp_path / "s.npz"), str(warm_state["fake"]), "--metrics", "fid,kid,prdc"],
                           capsys)
    assert code == 2
    assert "statistics file" in err and "kid, prdc need the images" in err
    code, _, err = run_cli(["score", str(warm_state["real"]), str(tmp_path / "s.npz"), "--metrics", "fid,is"], capsys)
    assert code == 2 and "FAKE only with fid" in err and "is needs the images" in err


def test_inception_score_with_features_only_weights_exits_2(warm_state, torchscript_weights, monkeypatch, capsys):
    """The shared TorchScript file has no classifier: IS fails before any image is processed."""
    forbid_network(monkeypatch)
    code, _, err = run_cli(["score", str(warm_state["real"]), str(warm_state["fake"]), "--metrics", "fid,is",
                            "--weights", str(torchscript_weights), "-q"], capsys)
    assert code == 2
    assert "features only" in err and "Inception Score" in err
