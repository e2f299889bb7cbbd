"""Kernel Inception Distance against an independent plain-numpy estimator on the same subsets,
against torch-fidelity's and torchmetrics' MMD code (when installed), and statistical sanity."""

import warnings

import numpy as np
import pytest
import torch

from gan_eval.errors import GanEvalError
from gan_eval.metrics import kid as kid_module
from gan_eval.metrics.kid import kernel_inception_distance, subset_indices


def numpy_unbiased_mmd2(x, y, kernel):
    """MMD²_u written out with explicit off-diagonal masks (Gretton et al. 2012, eq. 3)."""
    m = len(x)
    off = ~np.eye(m, dtype=bool)
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    return kxx[off].mean() + kyy[off].mean() - 2 * kxy.mean()


def poly(gamma=None, coef=1.0, degree=3):
    return lambda a, b: ((a @ b.T) * (gamma or 1.0 / a.shape[1]) + coef) ** degree


def rbf(sigma):
    return lambda a, b: np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * sigma**2))


def features(seed, n, d=32, shift=0.0):
    """Non-negative, Inception-pool3-like features."""
    return np.abs(np.random.default_rng(seed).standard_normal((n, d))) + shift


@pytest.mark.parametrize("algorithm", ["subsets", "full", "auto"])
@pytest.mark.parametrize("kernel", ["polynomial", "rbf"])
def test_equals_numpy_estimator_on_the_same_subsets(algorithm, kernel, monkeypatch):
    monkeypatch.setattr(kid_module, "_TILE", 64)  # several tiles, the last one partial
    x, y = features(0, 300), features(1, 250, shift=0.05)
    kw = dict(subsets=15, subset_size=80, seed=3, algorithm=algorithm)
    if kernel == "rbf":
        r = kernel_inception_distance(x, y, kernel="rbf", bandwidth=4.0, **kw)
        kern = rbf(4.0)
    else:
        r = kernel_inception_distance(x, y, gamma=0.05, coef=0.5, degree=2, **kw)
        kern = poly(gamma=0.05, coef=0.5, degree=2)
    ref = [numpy_unbiased_mmd2(x[i], y[j], kern) for i, j in subset_indices(300, 250, 15, 80, seed=3)]
    np.testing.assert_allclose(r["values"], ref, rtol=1e-9, atol=1e-13)
    assert r["mean"] == pytest.approx(np.mean(ref), rel=1e-9)
    assert r["std"] == pytest.approx(np.std(ref), rel=1e-7)  # population std, as torch-fidelity
    assert r["subset_size"] == 80


def test_subsets_are_drawn_independently_without_replacement():
    draws = list(subset_indices(50, 40, subsets=4, subset_size=30, seed=0))
    for i, j in draws:
        assert len(set(i)) == 30 and len(set(j)) == 30 and i.max() < 50 and j.max() < 40
    assert not np.array_equal(draws[0][0], draws[1][0])
    rng = np.random.default_rng(0)  # the documented draw order
    np.testing.assert_array_equal(draws[0][0], rng.choice(50, 30, replace=False))
    np.testing.assert_array_equal(draws[0][1], rng.choice(40, 30, replace=False))


def test_matches_torch_fidelity_mmd_code():
    tf_kid = pytest.importorskip("torch_fidelity.metric_kid")
    x, y = features(2, 200), features(3, 200, shift=0.1)
    r = kernel_inception_distance(x, y, subsets=5, subset_size=100)
    ref = [
        tf_kid.kernel_mmd(x[i], y[j], kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                          kid_kernel_poly_coef0=1)
        for i, j in subset_indices(200, 200, 5, 100)
    ]
    np.testing.assert_allclose(r["values"], ref, rtol=1e-9)
    # With subsets as large as the sets every subset is the whole set, whatever the RNG.
    whole = tf_kid.kid_features_to_metric(torch.from_numpy(x), torch.from_numpy(y), kid_subsets=2,
                                          kid_subset_size=200, verbose=False, rng_seed=7)
    assert kernel_inception_distance(x, y, subsets=2, subset_size=200)["mean"] == pytest.approx(
        whole["kernel_inception_distance_mean"], rel=1e-9)


def test_matches_torchmetrics_mmd_code():
    tm_kid = pytest.importorskip("torchmetrics.image.kid")
    x, y = features(4, 150), features(5, 150, shift=0.1)
    r = kernel_inception_distance(x, y, subsets=4, subset_size=60)
    ref = [float(tm_kid.poly_mmd(torch.from_numpy(x[i]), torch.from_numpy(y[j])))
           for i, j in subset_indices(150, 150, 4, 60)]
    np.testing.assert_allclose(r["values"], ref, rtol=1e-9)


def test_same_distribution_near_zero_shifted_clearly_positive():
    x, y = features(6, 1000, d=64), features(7, 1000, d=64)
    same = kernel_inception_distance(x, y, subsets=30, subset_size=300)
    assert abs(same["mean"]) < 3 * same["std"]
    shifted = kernel_inception_distance(x, features(8, 1000, d=64, shift=0.3), subsets=30, subset_size=300)
    assert shifted["mean"] > 10 * shifted["std"] > 0
    assert shifted["mean"] > 20 * abs(same["mean"])


def test_small_sets_fall_back_with_a_warning_or_raise_when_strict():
    x, y = features(9, 120), features(10, 90)
    with pytest.warns(UserWarning, match="using subset_size=90"):
        r = kernel_inception_distance(x, y, subsets=5, subset_size=1000)
    assert r["subset_size"] == 90
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = kernel_inception_distance(x, y, subsets=5, subset_size=90)
    np.testing.assert_array_equal(r["values"], same["values"])
    with pytest.raises(GanEvalError, match="subset_size=1000 exceeds the smaller feature set"):
        kernel_inception_distance(x, y, subset_size=1000, strict=True)


def test_seed_makes_results_repeatable():
    x, y = features(11, 200), features(12, 200)
    a = kernel_inception_distance(x, y, subsets=6, subset_size=50, seed=1)
    b = kernel_inception_distance(torch.from_numpy(x).float(), y, subsets=6, subset_size=50, seed=1)
    np.testing.assert_allclose(a["values"], b["values"], rtol=1e-6)
    assert not np.array_equal(a["values"], kernel_inception_distance(x, y, subsets=6, subset_size=50,
                                                                     seed=2)["values"])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(f2=np.zeros((50, 7))), "feature dimension mismatch"),
        (dict(f1=np.full((50, 8), np.nan)), "NaN"),
        (dict(f1=np.zeros((1, 8))), "at least 2 samples"),
        (dict(subset_size=1), "subset_size must be an integer >= 2"),
        (dict(subsets=0), "subsets must be an integer >= 1"),
        (dict(kernel="laplace"), "kernel must be 'polynomial' or 'rbf'"),
        (dict(kernel="rbf"), "needs a bandwidth"),
        (dict(kernel="rbf", bandwidth=-1.0), "bandwidth must be a finite number > 0"),
        (dict(gamma=0), "gamma must be a finite number > 0"),
        (dict(degree=2.5), "degree must be an integer >= 1"),
        (dict(algorithm="fast"), "algorithm must be 'auto', 'full' or 'subsets'"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(f1=np.ones((50, 8)), f2=np.ones((50, 8)), subset_size=10, subsets=2)
    args.update(kwargs)
    with pytest.raises(GanEvalError, match=match):
        kernel_inception_distance(**args)
