"""Bootstrap confidence intervals for the feature-space distances, from kept features.

Each replicate resamples the real and the generated samples with replacement (each side to its
own size, independently; Efron & Tibshirani 1993, ch. 13 for the two-sample bootstrap), then
recomputes the metric on the resampled features: no network pass is repeated. Replicates are
drawn by ``np.random.default_rng(seed)``, so intervals are reproducible.

Two intervals from the B replicate values θ*_b (θ̂: the value on the original samples):

- ``percentile``: the (1 − level)/2 and (1 + level)/2 quantiles of θ*.
- ``basic`` (reverse percentile): [2θ̂ − q_hi, 2θ̂ − q_lo]. It subtracts the bootstrap's
  estimate of the estimator's bias. FID is biased upwards by O(1/N) (the sample covariance's
  trace term), and the resampled FIDs are biased once more by about as much, so the percentile
  interval of FID sits about twice the bias above the true distance; the basic interval does
  not. It is the default for FID and KID (whose resamples carry the duplicates' k(x, x) terms).

The k-NN metrics (precision, recall, density, coverage) use the percentile interval. A resample
holds duplicates, whose zero distances shrink the k-NN radii, so these intervals are
approximate (the bootstrap is not consistent for nearest-neighbour statistics); treat them as a
scale of the sampling variation, not as exact 95 % intervals.
"""

import numpy as np
import torch

from .. import defaults
from ..errors import GanEvalError
from ._checks import as_float_matrix, positive_int, same_dims

METHODS = ("percentile", "basic")


def bootstrap_ci(real_features, fake_features, statistic, replicates=defaults.BOOTSTRAP_REPLICATES,
                 level=defaults.CI_LEVEL, seed=defaults.SEED, method="percentile"):
    """Two-sample bootstrap interval of ``statistic(real, fake)``.

    `real_features`, `fake_features`: (N_r, d) and (N_f, d) float arrays or tensors (kept on
    their device). `statistic`: a function of two feature tensors returning a float or a dict of
    floats. `replicates`: B ≥ 2. `level`: in (0, 1). `method`: ``percentile`` or ``basic``
    (module docstring).

    Returns ``{name: {"value", "low", "high", "level", "replicates", "method"}}`` (name
    ``"value"`` when `statistic` returns a float). Raises GanEvalError for bad arguments.
    """
    replicates = positive_int(replicates, "bootstrap replicates", minimum=2)
    if not 0.0 < float(level) < 1.0:
        raise GanEvalError(f"confidence level must be in (0, 1), got {level!r}")
    if method not in METHODS:
        raise GanEvalError(f"bootstrap method must be one of {', '.join(METHODS)}, got {method!r}")
    r = as_float_matrix(real_features, "real features", dtype=torch.float64, min_rows=2)
    f = as_float_matrix(fake_features, "generated features", dtype=torch.float64, min_rows=2, device=r.device)
    same_dims(r, f, "real features", "generated features")

    def as_dict(v):
        return dict(v) if isinstance(v, dict) else {"value": v}

    point = as_dict(statistic(r, f))
    rng = np.random.default_rng(seed)
    draws = {k: np.empty(replicates) for k in point}
    for b in range(replicates):
        ir = torch.from_numpy(rng.integers(0, len(r), len(r))).to(r.device)
        jf = torch.from_numpy(rng.integers(0, len(f), len(f))).to(f.device)
        for k, v in as_dict(statistic(r[ir], f[jf])).items():
            draws[k][b] = v
    alpha = (1.0 - float(level)) / 2.0
    out = {}
    for k, v in point.items():
        lo, hi = np.quantile(draws[k], [alpha, 1.0 - alpha])
        if method == "basic":
            lo, hi = 2.0 * v - hi, 2.0 * v - lo
        out[k] = {"value": float(v), "low": float(lo), "high": float(hi), "level": float(level),
                  "replicates": replicates, "method": method}
    return out


def fid_ci(real_features, fake_features, replicates=defaults.BOOTSTRAP_REPLICATES, level=defaults.CI_LEVEL,
           seed=defaults.SEED, method="basic"):
    """Bootstrap interval of the Fréchet distance (FID) between two feature sets.

    Each replicate's FD is :func:`gan_eval.metrics.fid.fid_from_features` on the resampled
    features (float64). Returns the ``"value"`` entry of :func:`bootstrap_ci`.
    """
    from .fid import fid_from_features

    return bootstrap_ci(real_features, fake_features, lambda a, b: fid_from_features(a, b, warn=False),
                        replicates, level, seed, method)["value"]


def kid_ci(real_features, fake_features, replicates=defaults.BOOTSTRAP_REPLICATES, level=defaults.CI_LEVEL,
           seed=defaults.SEED, method="basic", subsets=defaults.KID_SUBSETS, subset_size=defaults.KID_SUBSET_SIZE):
    """Bootstrap interval of KID (the mean over `subsets` subsets of `subset_size`, seeded by
    `seed`, as :func:`gan_eval.metrics.kid.kernel_inception_distance`; shrunk to the smaller set
    without a warning). Returns the ``"value"`` entry of :func:`bootstrap_ci`."""
    from .kid import kernel_inception_distance

    def stat(a, b):
        m = min(subset_size, len(a), len(b))
        return kernel_inception_distance(a, b, subsets=subsets, subset_size=m, seed=seed)["mean"]

    return bootstrap_ci(real_features, fake_features, stat, replicates, level, seed, method)["value"]


def prdc_ci(real_features, fake_features, replicates=defaults.BOOTSTRAP_REPLICATES, level=defaults.CI_LEVEL,
            seed=defaults.SEED, k_pr=defaults.PR_K, k_dc=defaults.DC_K, method="percentile"):
    """Bootstrap intervals of precision, recall (k = `k_pr`), density and coverage (k = `k_dc`);
    approximate (module docstring). Returns ``{"precision": {...}, "recall": ..., "density": ...,
    "coverage": ...}`` as :func:`bootstrap_ci`."""
    from .prdc import density_coverage, precision_recall, prdc

    def stat(a, b):
        if (k_pr, k_dc) == (defaults.PR_K, defaults.DC_K):
            return prdc(a, b)
        return {**precision_recall(a, b, k=k_pr), **density_coverage(a, b, k=k_dc)}

    return bootstrap_ci(real_features, fake_features, stat, replicates, level, seed, method)
