"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs").

KID is the unbiased estimate of the squared maximum mean discrepancy between two feature sets,
averaged over random subsets. For subsets X, Y of m rows each and a kernel k,

    MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m-1)) + Σ_{i≠j} k(y_i, y_j) / (m(m-1)) - 2 Σ_{i,j} k(x_i, y_j) / m²

with the cubic polynomial kernel k(x, y) = (γ x·y + c)^d, γ = 1/D (D = feature dimension),
c = 1, d = 3. Protocol (the paper's code, torch-fidelity, torchmetrics): 100 subsets of 1000;
each subset draws m indices without replacement from each set independently; the result is the
mean and the *population* standard deviation (``np.std``) of the 100 values. The indices come
from ``np.random.default_rng(seed)`` (``seed`` = ``defaults.KID_SEED`` = 0): for each subset in
turn, ``rng.choice(n1, m, replace=False)`` then ``rng.choice(n2, m, replace=False)``; see
:func:`subset_indices`. KID can be slightly negative when the two distributions are close.

Computed in float64, in one of two ways with equal results (up to summation order). "subsets"
builds each subset's three m x m kernel matrices. "full" streams the full kernel matrices tile by
tile and gets every subset's kernel sums at once as ``cᵀ K c`` with c the subset's 0/1 indicator
vector; it costs (n1² + n2²)/2 + n1·n2 inner products instead of 3·subsets·m², so "auto" picks it
when the sets are smaller than about sqrt(subsets)·m (10,000 with the defaults). Both keep
memory to a few tiles of at most 2048 x 2048.
"""

import math
import warnings

import numpy as np
import torch

from .. import defaults
from ..errors import GanEvalError
from ._checks import as_float_matrix, positive_int, same_dims

__all__ = ["kernel_inception_distance", "subset_indices"]

_KERNELS = {"polynomial": "polynomial", "poly": "polynomial", "rbf": "rbf"}
_TILE = 2048


def subset_indices(n1, n2, subsets=defaults.KID_SUBSETS, subset_size=defaults.KID_SUBSET_SIZE,
                   seed=defaults.KID_SEED):
    """Yield the ``(idx1, idx2)`` index arrays of each KID subset, exactly as
    :func:`kernel_inception_distance` draws them (``subset_size`` must not exceed n1 or n2)."""
    rng = np.random.default_rng(seed)
    for _ in range(subsets):
        yield rng.choice(n1, subset_size, replace=False), rng.choice(n2, subset_size, replace=False)


def kernel_inception_distance(f1, f2, subsets=defaults.KID_SUBSETS, subset_size=defaults.KID_SUBSET_SIZE,
                              degree=defaults.KID_DEGREE, gamma=None, coef=defaults.KID_COEF,
                              kernel="polynomial", seed=defaults.KID_SEED, bandwidth=None, *, strict=False,
                              device=None, algorithm="auto"):
    """Kernel Inception Distance between two feature sets.

    Parameters
    ----------
    f1, f2 : array-like or tensor, (n1, D) and (n2, D)
        Features, e.g. 2048-d Inception pool3 of real and generated images (at least 2 rows each).
    subsets : int, default 100
    subset_size : int, default 1000
        Rows per subset and set (>= 2). If a set has fewer rows, the subset size falls back to
        ``min(n1, n2)`` with a warning, or GanEvalError when ``strict=True``. (torch-fidelity and
        torchmetrics raise instead.) With subset_size equal to both set sizes every subset is the
        whole set, so all values are equal and ``std`` is 0 up to rounding.
    degree, gamma, coef : polynomial kernel (γ x·y + c)^d; defaults d = 3, γ = 1/D, c = 1.
    kernel : "polynomial" (or "poly", default) or "rbf"
        "rbf" is k(x, y) = exp(-|x - y|² / (2 σ²)) with σ = `bandwidth`, which must then be given.
    seed : int, default 0
        Seed of the subset draws (see :func:`subset_indices`).
    strict : bool, default False
        Raise instead of shrinking the subset size when a set is too small.
    device : torch device or str, optional
        Where to compute; default: where `f1` lives (CPU for arrays).
    algorithm : "auto" (default), "full" or "subsets"
        How the sums are computed (see the module docstring); changes speed only.

    Returns
    -------
    dict with ``mean`` and ``std`` (floats), ``values`` (float64 array, one MMD² per subset) and
    ``subset_size`` (the size used).
    """
    kernel_name = _KERNELS.get(kernel) if isinstance(kernel, str) else None
    if kernel_name is None:
        raise GanEvalError(f"kernel must be 'polynomial' or 'rbf', got {kernel!r}")
    subsets = positive_int(subsets, "subsets")
    subset_size = positive_int(subset_size, "subset_size", minimum=2)
    x = as_float_matrix(f1, "f1", dtype=torch.float64, min_rows=2, device=device)
    y = as_float_matrix(f2, "f2", dtype=torch.float64, min_rows=2, device=x.device)
    same_dims(x, y, "f1", "f2")
    if kernel_name == "polynomial":
        degree = positive_int(degree, "degree")
        gamma = 1.0 / x.shape[1] if gamma is None else _positive_real(gamma, "gamma")
        coef = _positive_real(coef, "coef", allow_zero=True)

        def k(gram, sq_a, sq_b):  # in place: `gram` is always a fresh product
            return gram.mul_(gamma).add_(coef).pow_(degree)
    else:
        if bandwidth is None:
            raise GanEvalError("kernel='rbf' needs a bandwidth (the kernel width sigma); there is no standard default")
        bandwidth = _positive_real(bandwidth, "bandwidth")
        scale = -0.5 / bandwidth**2

        def k(gram, sq_a, sq_b):
            return gram.mul_(-2).add_(sq_a[:, None]).add_(sq_b[None, :]).clamp_(min=0).mul_(scale).exp_()

    if algorithm not in ("auto", "full", "subsets"):
        raise GanEvalError(f"algorithm must be 'auto', 'full' or 'subsets', got {algorithm!r}")
    n1, n2 = x.shape[0], y.shape[0]
    if subset_size > min(n1, n2):
        msg = f"KID: subset_size={subset_size} exceeds the smaller feature set ({n1} and {n2} samples)"
        if strict:
            raise GanEvalError(msg)
        subset_size = min(n1, n2)
        warnings.warn(f"{msg}; using subset_size={subset_size}", stacklevel=2)
    m = subset_size
    if algorithm == "auto":
        algorithm = "full" if (n1 * n1 + n2 * n2) / 2 + n1 * n2 < subsets * 3 * m * m else "subsets"

    draws = list(subset_indices(n1, n2, subsets, m, seed))
    sq_x, sq_y = (x * x).sum(dim=1), (y * y).sum(dim=1)
    if algorithm == "full":
        c1 = _indicators(draws, 0, n1, x)
        c2 = _indicators(draws, 1, n2, x)
        within = _within_sums(x, c1, sq_x, k) + _within_sums(y, c2, sq_y, k)
        cross = _cross_sums(x, y, c1, c2, sq_x, sq_y, k)
    else:
        within, cross = torch.empty(subsets, dtype=x.dtype), torch.empty(subsets, dtype=x.dtype)
        for s, (i1, i2) in enumerate(draws):
            i1, i2 = torch.from_numpy(i1).to(x.device), torch.from_numpy(i2).to(x.device)
            xs, ys = x[i1], y[i2]
            k11, k22 = k(xs @ xs.T, sq_x[i1], sq_x[i1]), k(ys @ ys.T, sq_y[i2], sq_y[i2])
            within[s] = (k11.sum() - k11.diagonal().sum()) + (k22.sum() - k22.diagonal().sum())
            cross[s] = k(xs @ ys.T, sq_x[i1], sq_y[i2]).sum()
    values = (within / (m * (m - 1)) - 2 * cross / (m * m)).cpu().numpy()
    return {"mean": float(values.mean()), "std": float(values.std()), "values": values, "subset_size": m}


def _indicators(draws, side, n, like):
    """n x subsets matrix with c[i, s] = 1 when row i is in subset s."""
    c = torch.zeros((n, len(draws)), dtype=like.dtype, device=like.device)
    for s, d in enumerate(draws):
        c[torch.from_numpy(d[side]).to(like.device), s] = 1
    return c


def _tiles(n):
    return [slice(i, min(n, i + _TILE)) for i in range(0, n, _TILE)]


def _within_sums(x, c, sq, k):
    """For every subset s: Σ_{i≠j in s} k(x_i, x_j), i.e. cᵀ K c without the diagonal, each
    unordered pair of tiles computed once."""
    acc = torch.zeros_like(c)
    tiles = _tiles(x.shape[0])
    for a, ri in enumerate(tiles):
        for rj in tiles[a:]:
            kt = k(x[ri] @ x[rj].T, sq[ri], sq[rj])
            if rj == ri:
                kt.diagonal().zero_()
                acc[ri] += kt @ c[ri]
            else:
                acc[ri] += kt @ c[rj]
                acc[rj] += kt.T @ c[ri]
    return (c * acc).sum(dim=0)


def _cross_sums(x, y, c1, c2, sq_x, sq_y, k):
    """For every subset s: Σ_{i in s1, j in s2} k(x_i, y_j) = c1ᵀ K c2."""
    acc = torch.zeros_like(c1)
    for ri in _tiles(x.shape[0]):
        for rj in _tiles(y.shape[0]):
            acc[ri] += k(x[ri] @ y[rj].T, sq_x[ri], sq_y[rj]) @ c2[rj]
    return (c1 * acc).sum(dim=0)


def _positive_real(value, name, allow_zero=False):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise GanEvalError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise GanEvalError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")
    return v
