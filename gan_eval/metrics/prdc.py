"""Precision/recall and density/coverage of a generated sample against a real one, from k-NN balls.

Every real point ``r_i`` gets a ball of radius ``R_i`` = distance to its k-th nearest *other* real
point (and every fake point ``f_j`` one of radius ``F_j`` within the fakes). With Euclidean
distances d and ``1[.]`` the indicator (N real, M fake):

* precision = (1/M) Σ_j 1[∃ i: d(f_j, r_i) < R_i]            (Kynkäänniemi et al. 2019, k = 3)
* recall    = (1/N) Σ_i 1[∃ j: d(r_i, f_j) < F_j]            (Kynkäänniemi et al. 2019, k = 3)
* density   = (1/(kM)) Σ_j Σ_i 1[d(f_j, r_i) < R_i]          (Naeem et al. 2020, k = 5)
* coverage  = (1/N) Σ_i 1[min_j d(r_i, f_j) < R_i]           (Naeem et al. 2020, k = 5)

These are the definitions of the reference `prdc` package (0.2, ``compute_prdc``), tie rules
included: comparisons are strict (a point exactly on a sphere is outside), and a radius is the
(k+1)-th smallest distance with the point's own zero counted, so exact duplicates are distinct
neighbours at distance 0 (a ball whose k nearest others are duplicates has radius 0 and holds
nothing).

Unlike the reference, which builds the full N x N, M x M and N x M float64 matrices, distances are
computed in tiles of at most ``defaults.KNN_BLOCK_ELEMENTS`` entries, in float32 by default (pass
``dtype=torch.float64`` for double precision), on CPU or GPU, and all four numbers come from one
pass. Comparisons are made between squared distances, which orders pairs exactly as the distances
themselves unless two of them are within one rounding unit; in float32 such near-ties can flip
relative to the reference's rounding, which moves a result by 1/M, 1/N or 1/(kM) at most per flip.
"""

import numpy as np
import torch

from .. import defaults
from ..errors import GanEvalError
from ._checks import as_float_matrix, positive_int, same_dims
from ._knn import centred_tile, smallest_within, squared_distance_tile, tile_side, tiles

__all__ = ["precision_recall", "density_coverage", "prdc"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def precision_recall(real_features, fake_features, k=defaults.PR_K, *, dtype=torch.float32, device=None,
                     max_elements=None):
    """Improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and Recall
    Metric for Assessing Generative Models"), protocol k = 3.

    precision = fraction of fake samples inside at least one real k-NN ball;
    recall = fraction of real samples inside at least one fake k-NN ball.

    Parameters
    ----------
    real_features, fake_features : array-like or tensor, (N, D) and (M, D)
        Features (e.g. 2048-d Inception pool3). N and M must both exceed k.
    k : int, default 3
        Neighbourhood size of the balls.
    dtype : torch.float32 (default) or torch.float64 (or the strings "float32"/"float64")
    device : torch device or str, optional
        Where to compute; default: where `real_features` lives (CPU for arrays).
    max_elements : int, optional
        Largest distance tile, default ``defaults.KNN_BLOCK_ELEMENTS``.

    Returns
    -------
    dict with float ``precision`` and ``recall`` in [0, 1].
    """
    return _prdc(real_features, fake_features, k_pr=k, k_dc=None, dtype=dtype, device=device,
                 max_elements=max_elements)


def density_coverage(real_features, fake_features, k=defaults.DC_K, *, dtype=torch.float32, device=None,
                     max_elements=None):
    """Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
    Generative Models"), protocol k = 5.

    density = (1/(kM)) Σ_j #{real balls containing f_j} (1 in expectation for identical
    distributions, unbounded above); coverage = fraction of real balls that contain a fake sample.
    N must exceed k; M >= 1. Other parameters as in :func:`precision_recall`.

    Returns
    -------
    dict with float ``density`` (>= 0) and ``coverage`` (in [0, 1]).
    """
    return _prdc(real_features, fake_features, k_pr=None, k_dc=k, dtype=dtype, device=device,
                 max_elements=max_elements)


def prdc(real_features, fake_features, k=None, *, dtype=torch.float32, device=None, max_elements=None):
    """Precision, recall, density and coverage from one distance pass.

    ``k=None`` uses the protocol values (k = 3 for precision/recall, k = 5 for density/coverage);
    an int uses that k for all four, as ``prdc.compute_prdc(real, fake, nearest_k=k)`` does.
    Other parameters as in :func:`precision_recall`.

    Returns
    -------
    dict with float ``precision``, ``recall``, ``density``, ``coverage``.
    """
    k_pr, k_dc = (defaults.PR_K, defaults.DC_K) if k is None else (k, k)
    return _prdc(real_features, fake_features, k_pr=k_pr, k_dc=k_dc, dtype=dtype, device=device,
                 max_elements=max_elements)


def _float_dtype(dtype):
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        name = str(dtype).removeprefix("torch.")
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = None
    if name not in _DTYPES:
        raise GanEvalError(f"dtype must be float32 or float64, got {dtype!r}")
    return _DTYPES[name]


def _prdc(real_features, fake_features, k_pr, k_dc, dtype, device, max_elements):
    dtype = _float_dtype(dtype)
    k_pr = positive_int(k_pr, "k") if k_pr is not None else None
    k_dc = positive_int(k_dc, "k") if k_dc is not None else None
    k_max = max(k for k in (k_pr, k_dc) if k is not None)
    if max_elements is not None:
        max_elements = positive_int(max_elements, "max_elements")
    real = as_float_matrix(real_features, "real_features", dtype=dtype, device=device)
    fake = as_float_matrix(fake_features, "fake_features", dtype=dtype, device=real.device)
    same_dims(real, fake, "real_features", "fake_features")
    if real.shape[0] <= k_max:
        raise GanEvalError(f"real_features: k={k_max} needs at least {k_max + 1} samples, got {real.shape[0]}")
    if k_pr is not None and fake.shape[0] <= k_pr:
        raise GanEvalError(f"fake_features: k={k_pr} needs at least {k_pr + 1} samples, got {fake.shape[0]}")

    # Distances are translation invariant; measuring from one point near both sets keeps the
    # |a|² + |b|² - 2a·b cancellation small in float32. The fake set is centred once (its tiles
    # are reused most); real tiles are centred as they are cut, sparing a second copy.
    centre = (real.mean(dim=0) + fake.mean(dim=0)) / 2
    fake = fake - centre

    # Squared radii; column k of the within-set list is the k-th other point.
    real_nn = smallest_within(real, k_max + 1, centre, max_elements)
    real_r_pr = _open_ball(real_nn[:, k_pr]) if k_pr else None
    real_r_dc = _open_ball(real_nn[:, k_dc]) if k_dc else None
    del real_nn
    fake_r_pr = _open_ball(smallest_within(fake, k_pr + 1, None, max_elements)[:, k_pr]) if k_pr else None

    n, m = real.shape[0], fake.shape[0]
    dev = real.device
    fake_in_real = torch.zeros(m, dtype=torch.bool, device=dev)  # precision
    real_in_fake = torch.zeros(n, dtype=torch.bool, device=dev)  # recall
    balls_per_fake = torch.zeros(m, dtype=torch.float64, device=dev)  # density (exact integer counts)
    nearest_fake = torch.full((n,), float("inf"), dtype=dtype, device=dev)  # coverage
    side = tile_side(max_elements)
    fake_parts = tiles(m, side)
    fake_sq = torch.cat([centred_tile(fake, rj)[1] for rj in fake_parts])
    mask = None
    for ri in tiles(n, side):
        a, a_sq = centred_tile(real, ri, centre)
        for rj in fake_parts:
            d = squared_distance_tile(a, a_sq, fake[rj], fake_sq[rj])  # unclamped; see _open_ball
            if mask is None or mask.shape != d.shape:
                mask = torch.empty_like(d)
            if k_dc:
                torch.minimum(nearest_fake[ri], d.amin(dim=1), out=nearest_fake[ri])
                # counts in float: exact below 2**24, and float reductions are much faster than bool ones
                balls_per_fake[rj] += torch.lt(d, real_r_dc[ri, None], out=mask).sum(dim=0)
            if k_pr:
                if k_pr != k_dc:
                    fake_in_real[rj] |= torch.lt(d, real_r_pr[ri, None], out=mask).amax(dim=0) > 0
                # d - F < 0 exactly when d < F (IEEE subtraction keeps the sign), and amin is fast.
                real_in_fake[ri] |= d.sub_(fake_r_pr[None, rj]).amin(dim=1) < 0

    out = {}
    if k_pr:
        if k_pr == k_dc:  # then a fake point is in some real ball exactly when its count is > 0
            fake_in_real = balls_per_fake > 0
        out["precision"] = int(fake_in_real.sum()) / m
        out["recall"] = int(real_in_fake.sum()) / n
    if k_dc:
        out["density"] = (1.0 / k_dc) * (int(balls_per_fake.sum()) / m)
        out["coverage"] = int((nearest_fake < real_r_dc).sum()) / n
    return out


def _open_ball(radius_sq):
    """Squared radius to compare unclamped squared distances with: ``d < r`` as for clamped
    distances, since a zero radius (k duplicates) holds nothing and becomes -inf."""
    return torch.where(radius_sq > 0, radius_sq, float("-inf")).contiguous()
