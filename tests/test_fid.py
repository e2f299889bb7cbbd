"""Fréchet distance: closed forms for Gaussians, scipy.linalg.sqrtm as an oracle, singular cases."""

import warnings

import numpy as np
import pytest
import scipy.linalg

from gan_eval import GanEvalError, fid_from_features, frechet_distance
from gan_eval.stats import Statistics


def random_spd(rng, d, cond=10.0):
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (q * np.linspace(1.0, cond, d)) @ q.T


def scipy_fid(mu1, s1, mu2, s2):
    """Independent reference: the TTUR / pytorch-fid formula with scipy.linalg.sqrtm."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def test_diagonal_gaussians_closed_form():
    """Commuting (diagonal) covariances: d² = ||μ1−μ2||² + Σ(√a − √b)²."""
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 3, 64), rng.uniform(0.1, 3, 64)
    mu1, mu2 = rng.standard_normal(64), rng.standard_normal(64)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_scaled_covariance_closed_form():
    """Σ2 = c²Σ1 gives tr((Σ1Σ2)^½) = c·tr(Σ1), so d² = ||Δμ||² + (1 − c)²·tr(Σ1)."""
    rng = np.random.default_rng(1)
    s = random_spd(rng, 128)
    mu1, mu2 = rng.standard_normal(128), rng.standard_normal(128)
    c = 1.7
    expected = ((mu1 - mu2) ** 2).sum() + (1 - c) ** 2 * np.trace(s)
    assert frechet_distance(mu1, s, mu2, c * c * s) == pytest.approx(expected, rel=1e-10)


def test_agrees_with_scipy_sqrtm_on_well_conditioned():
    rng = np.random.default_rng(2)
    for d in (16, 256):
        s1, s2 = random_spd(rng, d), random_spd(rng, d, cond=50)
        mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(scipy_fid(mu1, s1, mu2, s2), rel=1e-6)


def test_samples_from_gaussians_approach_closed_form():
    """Features drawn from two known Gaussians: FID of the samples → closed form as N grows."""
    rng = np.random.default_rng(3)
    d = 8
    x = rng.standard_normal((200_000, d))
    y = rng.standard_normal((200_000, d)) * 2.0 + 0.5
    expected = d * 0.25 + d * (2.0 - 1.0) ** 2  # ||Δμ||² + Σ(σ1 − σ2)²
    assert fid_from_features(x, y) == pytest.approx(expected, rel=0.01)


def test_identical_inputs_give_zero():
    rng = np.random.default_rng(4)
    feats = rng.standard_normal((2100, 2048)).astype(np.float32) * 0.3 + 0.2
    st = Statistics.from_features(feats)
    assert abs(frechet_distance(st.mean, st.cov, st.mean, st.cov)) < 1e-8
    small = feats[:100]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert abs(fid_from_features(small, small)) < 1e-8


def test_singular_covariances_are_finite_and_exact():
    """N < d: scipy's sqrtm returns complex parts and drifts; the exact value comes from the low-rank form."""
    rng = np.random.default_rng(5)
    d = 512
    x = rng.standard_normal((60, d)) @ rng.standard_normal((d, d)) * 0.05
    y = rng.standard_normal((80, d)) @ rng.standard_normal((d, d)) * 0.05 + 0.1
    mu1, s1, mu2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = fid_from_features(x, y)
    # Independent exact value: the nuclear norm of A1 A2ᵀ / sqrt((n1−1)(n2−1)) is tr((Σ1Σ2)^½).
    a1, a2 = x - x.mean(0), y - y.mean(0)
    nuc = np.linalg.svd(a1 @ a2.T / np.sqrt((len(x) - 1) * (len(y) - 1)), compute_uv=False).sum()
    reference = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * nuc
    assert exact == pytest.approx(reference, rel=1e-9)
    from_stats = frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(from_stats) and from_stats == pytest.approx(reference, rel=1e-6)


def test_zero_and_rank_deficient_covariances_never_nan():
    d = 32
    z = np.zeros((d, d))
    mu = np.ones(d)
    assert frechet_distance(mu, z, mu, z) == 0.0
    assert frechet_distance(mu, z, np.zeros(d), np.eye(d)) == pytest.approx(d + d, rel=1e-12)


def test_warns_below_2048_samples():
    rng = np.random.default_rng(6)
    with pytest.warns(UserWarning, match="2048"):
        fid_from_features(rng.standard_normal((50, 2048)), rng.standard_normal((50, 2048)))


def test_bad_statistics():
    with pytest.raises(GanEvalError, match="dimension mismatch"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(GanEvalError, match="does not match"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(GanEvalError, match="NaN"):
        frechet_distance(np.array([0, np.nan, 0]), np.eye(3), np.zeros(3), np.eye(3))
    with pytest.raises(GanEvalError, match="feature dimension mismatch"):
        fid_from_features(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(GanEvalError, match="at least 2"):
        fid_from_features(np.zeros((1, 3)), np.zeros((5, 3)))


def test_streaming_statistics_merge_equals_numpy():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1000, 64)) * 3 + 5
    a = Statistics(64).update(x[:300]).update(x[300:700])
    b = Statistics(64).update(x[700:])
    a.merge(b)
    assert a.count == 1000
    np.testing.assert_allclose(a.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(a.cov, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-12)
    with pytest.raises(GanEvalError):
        Statistics(64).update(np.full((2, 64), np.nan))
