"""MMD² and the permutation test (gan_eval.metrics.mmd).

References: explicit kernel matrices from scikit-learn (rbf_kernel, polynomial_kernel) plugged
into Gretton et al. (2012) eq. 3 (unbiased) and eq. 5 (biased), and scipy's pdist for the
median heuristic.
"""

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from sklearn.metrics.pairwise import polynomial_kernel, rbf_kernel

from gan_eval import mmd, mmd_permutation_test
from gan_eval.errors import GanEvalError
from gan_eval.metrics import mmd as mmd_mod


def reference(kxx, kyy, kxy, unbiased):
    n, m = len(kxx), len(kyy)
    if unbiased:
        return ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                - 2 * kxy.mean())
    return kxx.mean() + kyy.mean() - 2 * kxy.mean()


def rbf(a, b, bandwidths):
    return sum(rbf_kernel(a, b, gamma=1.0 / (2 * h * h)) for h in bandwidths)


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(120, 4)), rng.normal(0.4, 1.1, (90, 4))


@pytest.mark.parametrize("unbiased", [True, False])
def test_rbf_matches_explicit_kernel_matrices(xy, unbiased):
    x, y = xy
    for bw in ([1.5], [0.5, 1.0, 4.0]):
        expected = reference(rbf(x, x, bw), rbf(y, y, bw), rbf(x, y, bw), unbiased)
        got = mmd(x, y, bandwidth=bw if len(bw) > 1 else bw[0], unbiased=unbiased, device="cpu")
        assert got == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("unbiased", [True, False])
def test_polynomial_matches_explicit_kernel_matrices(xy, unbiased):
    x, y = xy
    expected = reference(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y), unbiased)
    assert mmd(x, y, kernel="polynomial", unbiased=unbiased, device="cpu") == pytest.approx(expected, rel=1e-10)
    k = lambda a, b: polynomial_kernel(a, b, degree=2, gamma=0.3, coef0=0.5)  # noqa: E731
    expected = reference(k(x, x), k(y, y), k(x, y), unbiased)
    got = mmd(x, y, kernel="polynomial", degree=2, gamma=0.3, coef=0.5, unbiased=unbiased, device="cpu")
    assert got == pytest.approx(expected, rel=1e-10)


def test_median_heuristic(xy):
    x, y = xy
    h = float(np.median(pdist(np.vstack([x, y]))))
    assert mmd_mod.median_heuristic(x, y) == pytest.approx(h, rel=1e-12)
    assert mmd(x, y, device="cpu") == pytest.approx(mmd(x, y, bandwidth=h, device="cpu"), rel=1e-12)
    assert mmd_permutation_test(x, y, permutations=10, device="cpu")["bandwidth"] == [pytest.approx(h, rel=1e-12)]


def test_blocked_sums_do_not_depend_on_block_size(xy, monkeypatch):
    x, y = xy
    full = [mmd(x, y, bandwidth=1.0, device="cpu"), mmd(x, y, kernel="polynomial", device="cpu")]
    monkeypatch.setattr(mmd_mod, "_BLOCK_ELEMENTS", 50)
    small = [mmd(x, y, bandwidth=1.0, device="cpu"), mmd(x, y, kernel="polynomial", device="cpu")]
    np.testing.assert_allclose(small, full, rtol=1e-12)


def test_permutation_statistics_equal_direct_mmd(xy):
    """The fast statistic from the pooled kernel matrix equals mmd() on the permuted split."""
    import torch

    x, y = xy
    z = np.vstack([x, y])
    kmat = torch.from_numpy(rbf(z, z, [1.3]))
    rng = np.random.default_rng(1)
    for unbiased in (True, False):
        perms = [rng.permutation(len(z)) for _ in range(4)]
        labels = torch.zeros(4, len(z), dtype=torch.float64)
        for i, p in enumerate(perms):
            labels[i, p[:len(x)]] = 1
        fast = mmd_mod._permuted_statistics(kmat, len(x), labels, unbiased).numpy()
        direct = [mmd(z[p[:len(x)]], z[p[len(x):]], bandwidth=1.3, unbiased=unbiased, device="cpu") for p in perms]
        np.testing.assert_allclose(fast, direct, rtol=1e-10, atol=1e-14)


def test_same_distribution_is_within_noise_of_zero():
    """Unbiased MMD² of two samples of one distribution: within 3 permutation-null standard
    deviations of 0, and the average over independent pairs closer still; the biased one is > 0."""
    values, stds = [], []
    for seed in range(3):
        rng = np.random.default_rng(10 + seed)
        x, y = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
        r = mmd_permutation_test(x, y, permutations=200, seed=seed, device="cpu")
        assert r["mmd2"] == pytest.approx(mmd(x, y, device="cpu"), rel=1e-10, abs=1e-14)
        assert abs(r["mmd2"]) < 3 * r["null_std"]
        assert abs(r["null_mean"]) < 0.5 * r["null_std"]  # the permutation null of MMD²_u is centred on 0
        assert mmd(x, y, unbiased=False, device="cpu") > 0
        values.append(r["mmd2"])
        stds.append(r["null_std"])
    assert abs(np.mean(values)) < 3 * np.mean(stds) / 2


def test_shifted_distribution_is_detected():
    rng = np.random.default_rng(20)
    x, y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + np.array([0.6, 0.0])
    r = mmd_permutation_test(x, y, permutations=1000, seed=0, device="cpu")
    assert r["p_value"] < 0.01
    assert r["p_value"] >= 1 / 1001
    assert r["mmd2"] > 0
    poly = mmd_permutation_test(x, y, kernel="polynomial", permutations=500, seed=0, device="cpu")
    assert poly["p_value"] < 0.01 and "bandwidth" not in poly


def test_permutation_test_is_seeded_and_counts_the_observed():
    rng = np.random.default_rng(30)
    x, y = rng.normal(size=(60, 2)), rng.normal(size=(50, 2))
    a = mmd_permutation_test(x, y, permutations=300, seed=5, device="cpu")
    b = mmd_permutation_test(x, y, permutations=300, seed=5, device="cpu")
    assert a == b
    assert 0 < a["p_value"] <= 1
    assert round(a["p_value"] * 301) == pytest.approx(a["p_value"] * 301)  # (1 + count) / (1 + P)
    assert a["p_value"] > 0.01  # same distribution, seeded


def test_bad_inputs(xy):
    x, y = xy
    for bw, msg in ((0.0, "bandwidth must be a finite number > 0, got 0.0"), (-1, "bandwidth must be a finite number > 0"),
                    (np.nan, "bandwidth must be a finite number > 0"), ([1.0, np.inf], "bandwidth must be a finite number > 0"),
                    ([], "non-empty list")):
        with pytest.raises(GanEvalError, match=msg):
            mmd(x, y, bandwidth=bw, device="cpu")
    with pytest.raises(GanEvalError, match="kernel must be one of rbf, polynomial"):
        mmd(x, y, kernel="laplace", device="cpu")
    with pytest.raises(GanEvalError, match="degree must be an integer >= 1"):
        mmd(x, y, kernel="polynomial", degree=0, device="cpu")
    with pytest.raises(GanEvalError, match="gamma must be a finite number > 0"):
        mmd(x, y, kernel="polynomial", gamma=-1, device="cpu")
    with pytest.raises(GanEvalError, match="dimension mismatch"):
        mmd(x, y[:, :3], device="cpu")
    with pytest.raises(GanEvalError, match="needs at least 1 samples"):
        mmd(np.empty((0, 4)), y, device="cpu")
    with pytest.raises(GanEvalError, match="the unbiased MMD² needs at least 2 samples"):
        mmd(x[:1], y, device="cpu")
    assert mmd(x[:1], y, unbiased=False, bandwidth=1.0, device="cpu") > 0
    with pytest.raises(GanEvalError, match="permutations must be an integer >= 1"):
        mmd_permutation_test(x, y, permutations=0, device="cpu")
    with pytest.raises(GanEvalError, match="median distance between points is 0"):
        mmd(np.zeros((5, 2)), np.zeros((5, 2)), device="cpu")
