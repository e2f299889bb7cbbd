"""Parzen-window log-likelihood (gan_eval.metrics.parzen).

Reference: a direct float64 computation with numpy broadcasting and scipy.special.logsumexp,
written here independently of the library's blocked float32-select / float64-refine scheme.
"""

import math

import numpy as np
import pytest
from scipy.special import logsumexp

from gan_eval import parzen_log_likelihood, select_bandwidth
from gan_eval.errors import GanEvalError
from gan_eval.metrics import parzen as parzen_mod
from gan_eval.metrics.parzen import parzen_protocol


def reference_ll(centres, x, sigma):
    """log p(x) = logsumexp(-||x-c||²/2σ²) - log N - d/2 log(2πσ²), all in float64."""
    c = np.asarray(centres, dtype=np.float64).reshape(len(centres), -1)
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    sq = ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
    d = c.shape[1]
    return logsumexp(-sq / (2 * sigma**2), axis=1) - math.log(len(c)) - 0.5 * d * math.log(2 * math.pi * sigma**2)


def binary_images(rng, n, d=784, p=0.15):
    """MNIST-like rows: mostly 0, some pixels near 1, values in [0, 1]."""
    on = rng.random((n, d)) < p
    return np.where(on, rng.uniform(0.6, 1.0, (n, d)), 0.0)


@pytest.mark.parametrize("sigma", [0.05, 0.2, 0.6, 2.0])
def test_matches_direct_logsumexp(sigma):
    rng = np.random.default_rng(0)
    centres, x = binary_images(rng, 300, d=100), binary_images(rng, 40, d=100)
    x[:5] = centres[:5] + rng.normal(0, 0.01, (5, 100))  # points right next to a centre
    got = parzen_log_likelihood(centres, x, sigma, device="cpu")
    assert got.dtype == np.float64 and got.shape == (40,)
    np.testing.assert_allclose(got, reference_ll(centres, x, sigma), rtol=1e-9, atol=0)


@pytest.mark.parametrize("dense_fraction", [0.0, 1.0])
def test_both_evaluation_paths_are_exact(monkeypatch, dense_fraction):
    """0.0 forces every block through the dense float64 path, 1.0 through the select-and-refine path."""
    monkeypatch.setattr(parzen_mod, "_DENSE_FRACTION", dense_fraction)
    rng = np.random.default_rng(1)
    centres, x = binary_images(rng, 300), binary_images(rng, 20)
    for sigma in (0.1, 0.3, 1.0):
        got = parzen_log_likelihood(centres, x, sigma, device="cpu")
        np.testing.assert_allclose(got, reference_ll(centres, x, sigma), rtol=1e-9, atol=0)


def test_float32_cancellation_is_refined_away():
    """Data far from the origin with a small spread: a plain float32 ||x||²+||c||²-2x·c loses
    several nats here, the library must still match float64 to 1e-9."""
    rng = np.random.default_rng(2)
    offset = 50.0
    centres = offset + rng.normal(0, 0.05, (400, 30))
    x = offset + rng.normal(0, 0.05, (25, 30))
    sigma = 0.02
    ref = reference_ll(centres, x, sigma)
    c32, x32 = centres.astype(np.float32), x.astype(np.float32)
    naive_sq = (x32**2).sum(1)[:, None] + (c32**2).sum(1)[None, :] - 2 * x32 @ c32.T
    naive = logsumexp(-naive_sq.astype(np.float64) / (2 * sigma**2), axis=1) - math.log(400) \
        - 15 * math.log(2 * math.pi * sigma**2)
    assert np.max(np.abs(naive - ref)) > 1e-3  # the trap is real
    got = parzen_log_likelihood(centres, x, sigma, device="cpu")
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=0)


def test_independent_of_chunk_size():
    rng = np.random.default_rng(3)
    centres, x = binary_images(rng, 200, d=100), binary_images(rng, 37, d=100)
    full = parzen_log_likelihood(centres, x, 0.2, device="cpu")
    for chunk in (1, 5, 16, 1000):
        np.testing.assert_allclose(parzen_log_likelihood(centres, x, 0.2, chunk_size=chunk, device="cpu"), full,
                                   rtol=1e-12, atol=0)


def test_images_are_flattened():
    rng = np.random.default_rng(4)
    centres, x = rng.random((50, 8, 8)), rng.random((6, 8, 8))
    np.testing.assert_array_equal(parzen_log_likelihood(centres, x, 0.3, device="cpu"),
                                  parzen_log_likelihood(centres.reshape(50, 64), x.reshape(6, 64), 0.3, device="cpu"))


def test_select_bandwidth_finds_the_true_sigma():
    """Validation points drawn from the very mixture a Parzen window on `means` with σ = 0.3
    describes: the maximum-likelihood σ on the grid must be a grid neighbour of 0.3, and the
    mean validation log-likelihood must rise towards it and fall after it."""
    rng = np.random.default_rng(5)
    true_sigma, d = 0.3, 10
    means = rng.uniform(-3, 3, (40, d))
    val = means[rng.integers(0, 40, 3000)] + true_sigma * rng.normal(size=(3000, d))
    grid = np.logspace(-1, 0, 10)
    sigma, scores = select_bandwidth(means, val, grid, return_scores=True, device="cpu")
    assert select_bandwidth(means, val, grid, device="cpu") == sigma
    nearest_two = sorted(grid, key=lambda s: abs(math.log(s / true_sigma)))[:2]
    assert sigma in nearest_two
    best = int(np.argmax(scores))
    assert np.all(np.diff(scores[:best + 1]) > 0) and np.all(np.diff(scores[best:]) < 0)
    np.testing.assert_allclose(
        select_bandwidth(means, val[:200], grid, return_scores=True, device="cpu")[1],
        [reference_ll(means, val[:200], s).mean() for s in grid], rtol=1e-9)


def test_protocol_numbers():
    rng = np.random.default_rng(6)
    samples, val, test = binary_images(rng, 120, 64), binary_images(rng, 60, 64), binary_images(rng, 45, 64)
    grid = [0.15, 0.3, 0.6]
    r = parzen_protocol(samples, val, test, sigmas=grid, n_centres=100, n_validation=50, device="cpu")
    scores = [reference_ll(samples[:100], val[:50], s).mean() for s in grid]
    assert r["sigma"] == grid[int(np.argmax(scores))]
    ll = reference_ll(samples[:100], test, r["sigma"])
    assert r["mean"] == pytest.approx(ll.mean(), rel=1e-9)
    assert r["sem"] == pytest.approx(ll.std(ddof=0) / math.sqrt(45), rel=1e-9)
    assert (r["n_centres"], r["n_validation"], r["n_test"]) == (100, 50, 45)
    np.testing.assert_allclose(r["validation_scores"], scores, rtol=1e-9)
    assert r["sigmas"] == grid
    fixed = parzen_protocol(samples, None, test, sigma=0.3, n_centres=100, n_test=10, device="cpu")
    assert fixed["sigma"] == 0.3 and fixed["n_test"] == 10 and fixed["validation_scores"] == []
    assert fixed["mean"] == pytest.approx(reference_ll(samples[:100], test[:10], 0.3).mean(), rel=1e-9)


def test_protocol_defaults_are_the_papers():
    from gan_eval import defaults

    np.testing.assert_allclose(defaults.PARZEN_SIGMAS, np.logspace(-1, 0, 10))
    assert defaults.PARZEN_N_CENTRES == 10_000 and defaults.PARZEN_N_VALIDATION == 1_000


@pytest.mark.parametrize("sigma,msg", [(0.0, "sigma must be a finite number > 0"), (-1.0, "sigma must be a finite number > 0"),
                                       (math.nan, "sigma must be a finite number > 0"),
                                       (math.inf, "sigma must be a finite number > 0"),
                                       ("wide", "sigma must be a positive number"),
                                       (np.array([0.1, 0.2]), "sigma must be a single number")])
def test_bad_sigma(sigma, msg):
    rng = np.random.default_rng(7)
    with pytest.raises(GanEvalError, match=msg):
        parzen_log_likelihood(rng.random((5, 3)), rng.random((4, 3)), sigma, device="cpu")


def test_bad_inputs():
    rng = np.random.default_rng(8)
    c, x = rng.random((5, 3)), rng.random((4, 3))
    with pytest.raises(GanEvalError, match="dimension mismatch"):
        parzen_log_likelihood(c, rng.random((4, 2)), 0.2, device="cpu")
    with pytest.raises(GanEvalError, match="centres: needs at least 1 samples"):
        parzen_log_likelihood(np.empty((0, 3)), x, 0.2, device="cpu")
    with pytest.raises(GanEvalError, match="x: needs at least 1 samples"):
        parzen_log_likelihood(c, np.empty((0, 3)), 0.2, device="cpu")
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(GanEvalError, match="x: contains NaN"):
        parzen_log_likelihood(c, bad, 0.2, device="cpu")
    with pytest.raises(GanEvalError, match="need at least one bandwidth"):
        select_bandwidth(c, x, [], device="cpu")
    with pytest.raises(GanEvalError, match="sigma must be a finite number > 0, got -0.5"):
        select_bandwidth(c, x, [0.1, -0.5], device="cpu")
    with pytest.raises(GanEvalError, match="chunk_size must be an integer >= 1"):
        parzen_log_likelihood(c, x, 0.2, chunk_size=0, device="cpu")
    with pytest.raises(GanEvalError, match=r"samples: the protocol uses 10 rows but only 5 were given \(lower n_centres"):
        parzen_protocol(c, x, x, n_centres=10, device="cpu")
    with pytest.raises(GanEvalError, match="validation data is needed"):
        parzen_protocol(c, None, x, n_centres=5, device="cpu")
