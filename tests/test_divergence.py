"""KL and JS divergences (gan_eval.metrics.divergence).

References: scipy.stats.entropy and scipy.spatial.distance.jensenshannon for histograms; the
closed-form KL between Gaussians and numerical quadrature (scipy.integrate.quad) of the JSD
integral for the sample estimators.
"""

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy, norm

from gan_eval import js_divergence, kl_divergence
from gan_eval.errors import GanEvalError
from gan_eval.metrics import divergence as div_mod

LN2 = math.log(2)


def gaussian_kl(mu0, cov0, mu1, cov1):
    """Closed form KL(N(mu0, cov0) ‖ N(mu1, cov1))."""
    mu0, mu1 = np.atleast_1d(mu0).astype(float), np.atleast_1d(mu1).astype(float)
    cov0, cov1 = np.atleast_2d(cov0).astype(float), np.atleast_2d(cov1).astype(float)
    inv1 = np.linalg.inv(cov1)
    dm = mu1 - mu0
    return 0.5 * (np.trace(inv1 @ cov0) + dm @ inv1 @ dm - len(mu0) + math.log(np.linalg.det(cov1) / np.linalg.det(cov0)))


# --- histograms -----------------------------------------------------------------------------

def test_histogram_kl_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(5):
        p, q = rng.integers(1, 50, 12), rng.random(12)
        assert kl_divergence(p, q) == pytest.approx(entropy(p, q), rel=1e-12)
        assert kl_divergence(p, q, base=2) == pytest.approx(entropy(p, q, base=2), rel=1e-12)


def test_histogram_zero_bins():
    # p = 0 where q > 0: those bins contribute nothing
    assert kl_divergence([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]) == pytest.approx(math.log(2), rel=1e-12)
    # p > 0 where q = 0: infinite unless smoothed
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf
    eps = 1e-3
    smoothed = kl_divergence([0.5, 0.5], [1.0, 0.0], eps=eps)
    ps, qs = (np.array([0.5, 0.5]) + eps) / (1 + 2 * eps), (np.array([1.0, 0.0]) + eps) / (1 + 2 * eps)
    assert smoothed == pytest.approx(entropy(ps, qs), rel=1e-12)
    assert math.isfinite(smoothed)


def test_histogram_jsd_matches_scipy_and_bounds():
    rng = np.random.default_rng(1)
    for _ in range(20):
        p, q = rng.dirichlet(np.full(8, 0.3)), rng.dirichlet(np.full(8, 0.3))
        j = js_divergence(p, q)
        assert 0.0 <= j <= LN2
        assert j == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-9, abs=1e-15)
        assert js_divergence(p, q, base=2) == pytest.approx(jensenshannon(p, q, base=2) ** 2, rel=1e-9, abs=1e-15)
        assert js_divergence(p, q) == pytest.approx(js_divergence(q, p), rel=1e-12)
    assert js_divergence([1, 0, 0], [0, 3, 1]) == pytest.approx(LN2, rel=1e-15)
    assert js_divergence([1, 0], [0, 1], base=2) == pytest.approx(1.0, rel=1e-15)
    assert js_divergence([2, 2, 4], [1, 1, 2]) == 0.0


def test_explicit_kind_switch():
    x = np.random.default_rng(2).normal(size=500)
    y = np.random.default_rng(3).normal(size=400)
    # 1-D samples need samples=True; then they equal the (n, 1) column form
    assert kl_divergence(x, y, samples=True) == kl_divergence(x[:, None], y[:, None])
    assert js_divergence(x, y, samples=True, k=3) == js_divergence(x[:, None], y[:, None], k=3)


# --- samples ------------------------------------------------------------------------------

def test_knn_kl_univariate_gaussians():
    """KL(N(0,1) ‖ N(1, 2²)) = log 2 + 2/8 - 1/2. The estimator's sampling spread at n = 10k is
    a few percent, so one draw within 5% would be a coin flip: the mean of five independent
    10k-sample estimates must be within 5%, and each within 15%."""
    truth = gaussian_kl(0, 1, 1, 4)
    assert truth == pytest.approx(math.log(2) - 0.25, rel=1e-12)
    estimates = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        estimates.append(kl_divergence(rng.normal(0, 1, (10_000, 1)), rng.normal(1, 2, (10_000, 1))))
    assert abs(np.mean(estimates) - truth) < 0.05 * truth
    assert max(abs(e - truth) for e in estimates) < 0.15 * truth


def test_knn_kl_multivariate_gaussians():
    mu0, cov0 = np.zeros(2), np.eye(2)
    mu1, cov1 = np.array([1.0, 0.5]), np.array([[2.0, 0.5], [0.5, 1.5]])
    truth = gaussian_kl(mu0, cov0, mu1, cov1)
    estimates = []
    for seed in range(5):
        rng = np.random.default_rng(100 + seed)
        estimates.append(kl_divergence(rng.multivariate_normal(mu0, cov0, 10_000), rng.multivariate_normal(mu1, cov1, 10_000)))
    assert abs(np.mean(estimates) - truth) < 0.05 * truth
    assert max(abs(e - truth) for e in estimates) < 0.15 * truth


def test_knn_kl_formula_on_tiny_input():
    """Wang et al. (2009) eq. (5) computed by hand with explicit distance matrices."""
    rng = np.random.default_rng(4)
    x, y, k = rng.normal(size=(30, 3)), rng.normal(0.5, 1, (20, 3)), 2
    dxx = np.linalg.norm(x[:, None] - x[None], axis=2)
    np.fill_diagonal(dxx, np.inf)
    rho = np.sort(dxx, axis=1)[:, k - 1]
    nu = np.sort(np.linalg.norm(x[:, None] - y[None], axis=2), axis=1)[:, k - 1]
    expected = 3 * np.mean(np.log(nu / rho)) + math.log(20 / 29)
    assert kl_divergence(x, y, k=k) == pytest.approx(expected, rel=1e-10)
    assert kl_divergence(x, y, k=k, base=2) == pytest.approx(expected / LN2, rel=1e-10)


def test_kd_tree_and_brute_force_agree(monkeypatch):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(400, 3)), rng.normal(0.3, 1.2, (300, 3))
    tree = (kl_divergence(x, y), js_divergence(x, y))
    monkeypatch.setattr(div_mod, "KD_TREE_MAX_DIM", 0)
    brute = (kl_divergence(x, y, device="cpu"), js_divergence(x, y, device="cpu"))
    np.testing.assert_allclose(tree, brute, rtol=1e-9)


def test_knn_jsd_against_quadrature():
    truth = quad(lambda t: 0.5 * norm.pdf(t) * math.log(2 * norm.pdf(t) / (norm.pdf(t) + norm.pdf(t, 1.5)))
                 + 0.5 * norm.pdf(t, 1.5) * math.log(2 * norm.pdf(t, 1.5) / (norm.pdf(t) + norm.pdf(t, 1.5))),
                 -15, 16.5, limit=200)[0]
    estimates = [js_divergence(r.normal(0, 1, (10_000, 1)), r.normal(1.5, 1, (10_000, 1)))
                 for r in (np.random.default_rng(s) for s in range(3))]
    assert abs(np.mean(estimates) - truth) < 0.05 * truth


def test_knn_jsd_limits():
    rng = np.random.default_rng(6)
    same = js_divergence(rng.normal(size=(4000, 2)), rng.normal(size=(4000, 2)))
    assert 0.0 <= same < 0.01
    apart = js_divergence(rng.normal(size=(3000, 2)), rng.normal(40, 1, (3000, 2)))
    assert apart == pytest.approx(LN2, abs=1e-3) and apart <= LN2
    assert js_divergence(rng.normal(size=(3000, 2)), rng.normal(40, 1, (3000, 2)), base=2) == pytest.approx(1.0, abs=2e-3)


def test_knn_jsd_unequal_sizes_subsample_is_seeded():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(700, 2)), rng.normal(1, 1, (500, 2))
    a, b = js_divergence(x, y, seed=3), js_divergence(x, y, seed=3)
    assert a == b
    assert js_divergence(x[:500], y) != a or js_divergence(x, y, seed=4) != a


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [kl_divergence, js_divergence])
def test_bad_histograms(fn):
    with pytest.raises(GanEvalError, match="does not sum to a positive number"):
        fn([0, 0, 0], [1, 2, 3])
    with pytest.raises(GanEvalError, match="negative entries.*samples=True"):
        fn([0.5, -0.1, 0.6], [1, 2, 3])
    with pytest.raises(GanEvalError, match="different numbers of bins"):
        fn([1, 2], [1, 2, 3])
    with pytest.raises(GanEvalError, match="NaN or infinite"):
        fn([1, np.nan], [1, 2])
    with pytest.raises(GanEvalError, match="empty histogram"):
        fn([], [])
    with pytest.raises(GanEvalError, match="k applies to the k-NN estimator"):
        fn([1, 2], [2, 1], k=3)
    with pytest.raises(GanEvalError, match="eps must be a finite number >= 0"):
        fn([1, 2], [2, 1], eps=-1)
    with pytest.raises(GanEvalError, match="base must be"):
        fn([1, 2], [2, 1], base=1)
    with pytest.raises(GanEvalError, match="base must be"):
        fn([1, 2], [2, 1], base="ten")


@pytest.mark.parametrize("fn", [kl_divergence, js_divergence])
def test_bad_samples(fn):
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(10, 2)), rng.normal(size=(8, 2))
    with pytest.raises(GanEvalError, match="p is 1-D and q is 2-D"):
        fn(x[:, 0], y)
    with pytest.raises(GanEvalError, match="dimension mismatch"):
        fn(x, rng.normal(size=(8, 3)))
    with pytest.raises(GanEvalError, match="k=10 is too large"):
        fn(x, y, k=10)
    with pytest.raises(GanEvalError, match="needs at least 1 samples"):
        fn(np.empty((0, 2)), y)
    with pytest.raises(GanEvalError, match="repeated points"):
        fn(np.repeat(x, 3, axis=0), y, k=2)
    with pytest.raises(GanEvalError, match="eps smooths histograms"):
        fn(x, y, eps=0.1)
    with pytest.raises(GanEvalError, match="histograms must be 1-D"):
        fn(x, y, samples=False)
    with pytest.raises(GanEvalError, match="contains NaN"):
        fn(np.where(x > 1, np.nan, x), y)


def test_kl_k_limits():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(6, 1)), rng.normal(size=(4, 1))
    kl_divergence(x, y, k=4)  # k <= n - 1 and k <= m: fine
    with pytest.raises(GanEvalError, match=r"k=5 is too large: q has only 4"):
        kl_divergence(x, y, k=5)
    with pytest.raises(GanEvalError, match=r"k=6 is too large: p \(the other samples of p\) has only 5"):
        kl_divergence(x, rng.normal(size=(40, 1)), k=6)
    with pytest.raises(GanEvalError, match="k must be an integer >= 1"):
        kl_divergence(x, y, k=0)
