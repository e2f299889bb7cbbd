"""Maximum mean discrepancy (MMD) between two samples, and its permutation test.

Gretton, Borgwardt, Rasch, Schölkopf & Smola, "A kernel two-sample test", JMLR 13, 2012. For a
kernel k and samples x_1..x_n ~ P, y_1..y_m ~ Q:

    unbiased (eq. 3):  MMD²_u = Σ_{i≠j} k(x_i, x_j) / n(n-1) + Σ_{i≠j} k(y_i, y_j) / m(m-1)
                                - 2 Σ_{i,j} k(x_i, y_j) / nm
    biased (eq. 5):    MMD²_b = Σ_{i,j} k(x_i, x_j) / n² + Σ_{i,j} k(y_i, y_j) / m²
                                - 2 Σ_{i,j} k(x_i, y_j) / nm

Kernels:

* ``'rbf'``: k(a, b) = exp(-||a - b||² / (2 h²)). ``bandwidth=None`` uses the median heuristic
  (Gretton et al. 2012, §8): h = the median Euclidean distance between distinct points of the
  pooled sample (above ``defaults.MMD_MEDIAN_MAX_POINTS`` pooled points, of a seeded subsample
  of that size). A list of bandwidths uses the **sum** of the RBF kernels, as in the MMD nets
  and MMD GANs (Li et al. 2015; Dziugaite et al. 2015; Bińkowski et al. 2018); the sum of
  characteristic kernels is characteristic.
* ``'polynomial'``: k(a, b) = (γ a·b + coef)^degree, γ = 1/d by default: with degree 3 and
  coef 1 the kernel of KID (Bińkowski et al. 2018).

:func:`mmd` sums kernel blocks in bounded memory (O(block) memory, O(n·m·d) time).
:func:`mmd_permutation_test` builds the pooled (n+m)² kernel matrix once, in float64
((n+m) = 4,000 points: 128 MB), and evaluates every permutation from it.

Sample inputs: uint8 input is read as 8-bit pixels and divided by 255 (the [0, 1] units of the image protocols, as the CLI does); every other dtype is used in its own units.
"""

import math

import numpy as np
import torch

from .. import defaults
from ..devices import resolve_device
from ..errors import GanEvalError
from ._checks import as_float_matrix, positive_int, same_dims
from ._knn import block_rows, distance_blocks

KERNELS = ("rbf", "polynomial")
_BLOCK_ELEMENTS = 1 << 23  # float64 kernel entries per block in mmd() (64 MiB)


def _inputs(x, y, unbiased, device):
    dev = resolve_device(device)
    x = as_float_matrix(x, "x", dtype=torch.float64, device=dev, uint8="pixels")
    y = as_float_matrix(y, "y", dtype=torch.float64, device=dev, uint8="pixels")
    same_dims(x, y, "x", "y")
    if unbiased:
        for name, a in (("x", x), ("y", y)):
            if a.shape[0] < 2:
                raise GanEvalError(f"{name}: the unbiased MMD² needs at least 2 samples, got {a.shape[0]}")
    return x, y


def median_heuristic(x, y, seed=defaults.SEED):
    """Median Euclidean distance between distinct points of the pooled sample (x, y).

    Above ``defaults.MMD_MEDIAN_MAX_POINTS`` pooled points, the median is taken over a seeded
    subsample of that many points (without replacement). Raises GanEvalError when it is 0
    (more than half of the pairs coincide): give a bandwidth instead.
    """
    z = torch.cat([torch.as_tensor(x), torch.as_tensor(y)])
    cap = defaults.MMD_MEDIAN_MAX_POINTS
    if z.shape[0] > cap:
        idx = np.sort(np.random.default_rng(seed).choice(z.shape[0], cap, replace=False))
        z = z[torch.from_numpy(idx).to(z.device)]
    return _median_of_pairs(torch.cdist(z, z))


def _median_of_pairs(dist):
    n = dist.shape[0]
    iu = torch.triu_indices(n, n, offset=1, device=dist.device)
    h = float(dist[iu[0], iu[1]].median())
    if not h > 0:
        raise GanEvalError("median heuristic: the median distance between points is 0 (repeated points); give a bandwidth")
    return h


def _bandwidths(bandwidth):
    values = np.atleast_1d(np.asarray(bandwidth, dtype=np.float64)) if not isinstance(bandwidth, torch.Tensor) \
        else np.atleast_1d(bandwidth.detach().cpu().numpy().astype(np.float64))
    if values.ndim != 1 or values.size == 0:
        raise GanEvalError("bandwidth: give a number, a non-empty list of numbers, or None (median heuristic)")
    bad = values[~(np.isfinite(values) & (values > 0))]
    if bad.size:
        raise GanEvalError(f"bandwidth must be a finite number > 0, got {float(bad[0])!r}")
    return [float(v) for v in values]


def _number(value, name, positive):
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and (v > 0 if positive else v >= 0)):
        raise GanEvalError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")
    return v


class _Kernel:
    """k(a, b) on blocks of rows, with the options checked once."""

    def __init__(self, kernel, bandwidth, degree, gamma, coef, dims):
        if kernel not in KERNELS:
            raise GanEvalError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
        self.kind = kernel
        if kernel == "rbf":
            self.bandwidths = None if bandwidth is None else _bandwidths(bandwidth)
        else:
            self.degree = positive_int(degree, "degree")
            self.gamma = 1.0 / dims if gamma is None else _number(gamma, "gamma", positive=True)
            self.coef = _number(coef, "coef", positive=False)

    def fit(self, x, y):
        if self.kind == "rbf" and self.bandwidths is None:
            self.bandwidths = [median_heuristic(x, y)]
        return self

    def from_sq_dist(self, sq):
        out = torch.zeros_like(sq)
        for h in self.bandwidths:
            out += torch.exp(sq / (-2.0 * h * h))
        return out

    def blocks(self, a, b):
        """Yield kernel blocks of rows of a against all of b."""
        if self.kind == "rbf":
            for _, sq in distance_blocks(a, b, squared=True, max_elements=_BLOCK_ELEMENTS):
                yield self.from_sq_dist(sq)
        else:
            rows = block_rows(b.shape[0], _BLOCK_ELEMENTS)
            for s in range(0, a.shape[0], rows):
                yield (self.gamma * (a[s:s + rows] @ b.T) + self.coef) ** self.degree

    def sum(self, a, b):
        return sum(float(blk.sum()) for blk in self.blocks(a, b))

    def diag_sum(self, a):
        if self.kind == "rbf":
            return float(len(self.bandwidths) * a.shape[0])
        return float(((self.gamma * (a * a).sum(dim=1) + self.coef) ** self.degree).sum())

    def matrix(self, z):
        if self.kind == "rbf":
            return self.from_sq_dist(torch.cdist(z, z).square_())
        return (self.gamma * (z @ z.T) + self.coef) ** self.degree


def _estimate(kxx, kyy, kxy, dxx, dyy, n, m, unbiased):
    """MMD² from kernel sums (k_xx, k_yy over all pairs incl. the diagonal, whose sums are d_xx, d_yy)."""
    if unbiased:
        return (kxx - dxx) / (n * (n - 1)) + (kyy - dyy) / (m * (m - 1)) - 2.0 * kxy / (n * m)
    return kxx / (n * n) + kyy / (m * m) - 2.0 * kxy / (n * m)


def mmd(x, y, kernel="rbf", bandwidth=None, degree=3, gamma=None, coef=1, unbiased=True, device=None):
    """Squared maximum mean discrepancy MMD²(P, Q) between samples `x` (n, d) and `y` (m, d).

    ``unbiased=True`` (default) gives the U-statistic MMD²_u of Gretton et al. (2012, eq. 3):
    unbiased, so it can be slightly negative when P = Q; ``unbiased=False`` the V-statistic
    MMD²_b (eq. 5), always >= 0. Kernels and the bandwidth rules are in the module docstring:
    ``'rbf'`` with `bandwidth` h (a number, a list: sum of kernels, or None: median heuristic),
    or ``'polynomial'`` ``(gamma a·b + coef)^degree`` with gamma = 1/d by default.

    Computed in float64; kernel blocks are summed in bounded memory.

    Returns
    -------
    float: MMD² (not its square root).
    """
    x, y = _inputs(x, y, unbiased, device)
    k = _Kernel(kernel, bandwidth, degree, gamma, coef, x.shape[1]).fit(x, y)
    n, m = x.shape[0], y.shape[0]
    return float(_estimate(k.sum(x, x), k.sum(y, y), k.sum(x, y), k.diag_sum(x), k.diag_sum(y), n, m, unbiased))


def _permuted_statistics(kmat, n, labels, unbiased):
    """MMD² for each row of `labels` (0/1 float64, 1 = the point is in the first sample)."""
    total = kmat.sum()
    row = kmat.sum(dim=1)
    diag = torch.diagonal(kmat)
    kl = labels @ kmat  # (P, N)
    kxx = (kl * labels).sum(dim=1)
    x_rest = labels @ row  # Σ_{i in X, j} k
    kxy = x_rest - kxx
    kyy = total - 2 * x_rest + kxx
    dxx = labels @ diag
    dyy = diag.sum() - dxx
    m = kmat.shape[0] - n
    return _estimate(kxx, kyy, kxy, dxx, dyy, n, m, unbiased)


def mmd_permutation_test(x, y, kernel="rbf", bandwidth=None, degree=3, gamma=None, coef=1, unbiased=True,
                         permutations=1000, seed=defaults.SEED, device=None):
    """Two-sample test of P = Q with MMD² as the statistic and a seeded permutation null.

    The pooled kernel matrix K ((n+m) x (n+m), float64) is computed once; each permutation
    reassigns the pooled points to samples of sizes n and m (``torch.Generator`` seeded with
    `seed`) and recomputes MMD² from K. With the median heuristic, the bandwidth comes from the
    pooled sample, so it is the same for every permutation (the test stays exact). The p-value
    counts the observed statistic as one of the permutations (Phipson & Smyth 2010):

        p = (1 + #{b : MMD²_b >= MMD²_observed}) / (1 + permutations),

    so it is never 0; its smallest value is 1 / (1 + permutations).

    Memory: O((n+m)²) for K; time: O((n+m)² · permutations) for the statistics.

    Returns
    -------
    dict with ``mmd2`` (observed), ``p_value``, ``permutations``, ``null_mean``, ``null_std``
    (of the permutation statistics), ``bandwidth`` (list, rbf kernel only), ``kernel``.
    """
    permutations = positive_int(permutations, "permutations")
    x, y = _inputs(x, y, unbiased, device)
    k = _Kernel(kernel, bandwidth, degree, gamma, coef, x.shape[1])
    n, m = x.shape[0], y.shape[0]
    z = torch.cat([x, y])
    if k.kind == "rbf" and k.bandwidths is None:
        if z.shape[0] <= defaults.MMD_MEDIAN_MAX_POINTS:
            k.bandwidths = [_median_of_pairs(torch.cdist(z, z))]
        else:
            k.fit(x, y)
    kmat = k.matrix(z)
    observed = torch.zeros(1, n + m, dtype=torch.float64, device=z.device)
    observed[0, :n] = 1
    stat = float(_permuted_statistics(kmat, n, observed, unbiased)[0])

    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    null = []
    batch = max(1, min(permutations, (1 << 24) // (n + m)))  # bounded (batch x N) label matrices
    for s in range(0, permutations, batch):
        b = min(batch, permutations - s)
        order = torch.argsort(torch.rand(b, n + m, generator=gen), dim=1)
        labels = (order < n).to(dtype=torch.float64, device=z.device)  # position -> "in X" for a random subset of n
        null.append(_permuted_statistics(kmat, n, labels, unbiased).cpu())
    null = torch.cat(null).numpy()
    # tolerate rounding when a permutation reproduces the observed split
    exceed = int(np.sum(null >= stat - 1e-12 * max(1.0, abs(stat))))
    out = {
        "mmd2": stat,
        "p_value": (1 + exceed) / (1 + permutations),
        "permutations": permutations,
        "null_mean": float(null.mean()),
        "null_std": float(null.std()),
        "kernel": kernel,
    }
    if k.kind == "rbf":
        out["bandwidth"] = list(k.bandwidths)
    return out
