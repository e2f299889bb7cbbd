"""FID∞ / KID∞ (Chong & Forsyth 2020) on Gaussian features, where the Fréchet distance is known in
closed form: the extrapolation must land on it within the error it reports."""

import warnings

import numpy as np
import pytest

from gan_eval import GanEvalError
from gan_eval.metrics.fid import frechet_distance
from gan_eval.metrics.infinity import fid_infinity, kid_infinity, linear_fit_at_zero, sample_sizes

D = 16


def _gaussians():
    rng = np.random.default_rng(123)
    a = rng.normal(size=(D, D)) / np.sqrt(D)
    sigma2 = a @ a.T + 0.5 * np.eye(D)
    mu2 = rng.normal(size=D) * 0.3
    return (np.zeros(D), np.eye(D)), (mu2, sigma2)


def test_sample_sizes_follow_the_reference_schedule():
    # FID_Infinity score_infinity.py: np.linspace(min_fake=5000, num_fake, num_points=15).astype('int32')
    np.testing.assert_array_equal(sample_sizes(50_000), np.linspace(5000, 50_000, 15).astype("int32"))
    with pytest.warns(UserWarning, match="starts at N = 200"):
        assert sample_sizes(1000)[0] == 200
    with pytest.raises(GanEvalError):
        sample_sizes(1000, points=2)


def test_linear_fit_recovers_an_exact_line():
    n = np.array([100, 200, 400, 800])
    a, se, b = linear_fit_at_zero(n, 3.0 + 50.0 / n)
    assert a == pytest.approx(3.0, abs=1e-12) and b == pytest.approx(50.0) and se < 1e-10


def test_fid_infinity_recovers_the_true_distance_within_its_error(one_thread):
    (mu1, s1), (mu2, s2) = _gaussians()
    true = frechet_distance(mu1, s1, mu2, s2)
    z, z_fit, bias_inf, slopes = [], [], [], []
    for seed in range(30):
        fake = np.random.default_rng(seed).multivariate_normal(mu2, s2, size=4000)
        r = fid_infinity((mu1, s1), fake, min_n=500, seed=seed)
        assert [p["n"] for p in r["points"]] == list(np.linspace(500, 4000, 15).astype("int32"))
        slopes.append(r["slope"])
        z.append((r["value"] - true) / r["stderr"])
        z_fit.append((r["value"] - true) / r["stderr_fit"])
        bias_inf.append(r["value"] - true)
        if seed == 0:  # the single run of the "must show"
            assert abs(r["value"] - true) <= 2 * r["stderr"]
    z = np.array(z)
    # |z| <= 2 holds for 95 % of runs if the error is right; 30 runs: binomial sd 0.04, allow 3 sd.
    assert np.mean(np.abs(z) <= 2) >= 0.83
    assert 0.6 < np.std(z) < 1.5
    # The fit's own standard error alone is far too small (it cannot see the shared samples).
    assert np.std(z_fit) > 1.5
    assert np.mean(slopes) > 0  # FID_N is biased upwards, by about c / N
    # No bias left: the mean error of FID∞ over the runs is within 3 standard errors of zero.
    assert abs(np.mean(bias_inf)) < 3 * np.std(bias_inf) / np.sqrt(30)


def test_fid_infinity_accepts_reference_features_and_checks_dims():
    (mu1, s1), (mu2, s2) = _gaussians()
    rng = np.random.default_rng(0)
    real, fake = rng.multivariate_normal(mu1, s1, 600), rng.multivariate_normal(mu2, s2, 600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = fid_infinity(real, fake, points=5, bootstrap=3)
    assert len(r["points"]) == 5 and r["stderr_sample"] > 0
    with pytest.raises(GanEvalError, match="dimension"):
        fid_infinity(real[:, :3], fake)


def test_kid_infinity_slope_is_near_zero_for_the_unbiased_kid(one_thread):
    """KID is unbiased in N, so its extrapolation changes little: KID∞ stays within its error of
    KID at the largest N."""
    (mu1, s1), (mu2, s2) = _gaussians()
    rng = np.random.default_rng(1)
    real, fake = rng.multivariate_normal(mu1, s1, 1000), rng.multivariate_normal(mu2, s2, 1000)
    r = kid_infinity(real, fake, points=5, subsets=10, bootstrap=10)
    assert abs(r["value"] - r["points"][-1]["value"]) <= 3 * r["stderr"]
