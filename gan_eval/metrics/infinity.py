"""FID∞ and KID∞: the distance extrapolated to infinitely many generated samples.

Chong & Forsyth (CVPR 2020, "Effectively Unbiased FID and Inception Score and where to find
them"; reference code github.com/mchong6/FID_Infinity, ``score_infinity.py``) show that
FID_N, the FID of N generated samples against fixed reference statistics, is to first order
linear in 1/N: E[FID_N] = FID∞ + c / N, with c depending on the generator. Their protocol, which
these functions follow: the generated features are reshuffled before each point, FID_N is taken
on the first N of them at ``np.linspace(min_n, n, points).astype(int32)`` (defaults 5000 and 15
points), the reference side uses all its samples, and an ordinary least-squares line in 1/N is
evaluated at 1/N = 0.

The reported standard error has two parts, added in quadrature: the ordinary least-squares
standard error of the intercept (the scatter of the points about the line), and the sampling
error of the finite sets the points all come from, which the residuals cannot show (every point
reuses the same samples): the standard deviation of the full-set FID over `bootstrap` resamples
with replacement of the samples. Fitting on points alone under-reported the error about 2.4x
on Gaussian features (``tests/test_infinity.py``).

KID∞ applies the same fit to KID_N. KID is an unbiased estimator, so its slope is expected to be
near zero and KID∞ near KID; the fit is reported as a check of that.
"""

import warnings

import numpy as np
import torch

from .. import defaults
from ..errors import GanEvalError
from ._checks import as_float_matrix

MIN_N = 5000  # FID_Infinity's min_fake / first point
POINTS = 15  # FID_Infinity's num_points


def sample_sizes(n, min_n=MIN_N, points=POINTS):
    """The N of each point: ``np.linspace(min_n, n, points).astype(int32)`` as the reference code.

    When the set is not larger than `min_n` (the reference code refuses it), the first point is
    n // 5 instead, with a warning. Returns an int64 array of distinct sizes (at least 3).
    """
    n, points = int(n), int(points)
    if points < 3:
        raise GanEvalError(f"the extrapolation needs at least 3 points, got {points}")
    if n <= min_n:
        new = max(2, n // 5)
        warnings.warn(f"{n} generated samples: not more than min_n = {min_n}; the fit starts at N = {new} instead",
                      stacklevel=3)
        min_n = new
    sizes = np.unique(np.linspace(min_n, n, points).astype(np.int32).astype(np.int64))
    if len(sizes) < 3:
        raise GanEvalError(f"{n} samples give fewer than 3 distinct subset sizes for the extrapolation")
    return sizes


def linear_fit_at_zero(sizes, values):
    """OLS fit of ``values ≈ a + b / sizes``; returns ``(a, stderr of a, b)`` as floats."""
    x = 1.0 / np.asarray(sizes, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    design = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    dof = len(x) - 2
    s2 = float(resid @ resid) / dof if dof > 0 else float("nan")
    cov = s2 * np.linalg.inv(design.T @ design)
    return float(coef[0]), float(np.sqrt(max(cov[0, 0], 0.0))), float(coef[1])


def _result(sizes, values, sample_sd):
    value, fit_se, slope = linear_fit_at_zero(sizes, values)
    return {"value": value, "stderr": float(np.hypot(fit_se, sample_sd)), "stderr_fit": fit_se,
            "stderr_sample": float(sample_sd), "slope": slope,
            "points": [{"n": int(n), "value": float(v)} for n, v in zip(sizes, values)]}


def fid_infinity(real, fake_features, min_n=MIN_N, points=POINTS, seed=defaults.SEED, bootstrap=20):
    """FID∞ of generated features against a reference (Chong & Forsyth 2020).

    `real`: the reference side, an (N_r, d) feature array or a ``(mu, sigma)`` pair (float64
    statistics, as a statistics file holds). `fake_features`: (N, d) generated features (float;
    kept whole, as every point takes a subset). Before each point the generated features are
    reshuffled by ``np.random.default_rng(seed)``.

    `bootstrap` resamples (with replacement, of both sides when `real` is features) estimate the
    sampling error of the full-set FID (module docstring); 0 leaves it out.

    Returns ``{"value": FID∞, "stderr", "stderr_fit", "stderr_sample", "slope": c,
    "points": [{"n", "value"}, ...]}``. Raises GanEvalError for mismatched dimensions or too
    few samples (see :func:`sample_sizes`).
    """
    from .fid import frechet_distance

    f = as_float_matrix(fake_features, "generated features", dtype=torch.float64, min_rows=2).numpy()
    r = None
    if isinstance(real, (tuple, list)) and len(real) == 2:
        mu_r, sigma_r = np.asarray(real[0], np.float64), np.asarray(real[1], np.float64)
    else:
        r = as_float_matrix(real, "reference features", dtype=torch.float64, min_rows=2).numpy()
        mu_r, sigma_r = _moments(r)
    if mu_r.shape != (f.shape[1],):
        raise GanEvalError(f"dimension mismatch: reference {mu_r.shape[-1]}-d, generated {f.shape[1]}-d")
    sizes = sample_sizes(len(f), min_n, points)
    rng = np.random.default_rng(seed)
    order = np.arange(len(f))
    values = []
    for n in sizes:
        rng.shuffle(order)
        sub = f[order[:n]]
        values.append(frechet_distance(mu_r, sigma_r, *_moments(sub)))
    resampled = []
    for _ in range(int(bootstrap)):
        fb = f[rng.integers(0, len(f), len(f))]
        rb = (mu_r, sigma_r) if r is None else _moments(r[rng.integers(0, len(r), len(r))])
        resampled.append(frechet_distance(*rb, *_moments(fb)))
    return _result(sizes, values, np.std(resampled, ddof=1) if len(resampled) > 1 else 0.0)


def _moments(x):
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def kid_infinity(real_features, fake_features, min_n=None, points=POINTS, subsets=defaults.KID_SUBSETS,
                 seed=defaults.SEED, bootstrap=20):
    """KID∞: KID_N at several subset sizes N, extrapolated linearly in 1/N to N → ∞.

    KID_N is :func:`gan_eval.metrics.kid.kernel_inception_distance` with `subsets` subsets of N
    (from both sides, seeded by `seed` + the point's index). N runs over :func:`sample_sizes`
    of the smaller side, from `min_n` (default: a fifth of the smaller side, as KID's subsets
    are quadratic in N). The sampling part of the error is the standard deviation of the KID at
    the largest N over `bootstrap` resamples of both sides. Returns the same dict as
    :func:`fid_infinity`.
    """
    from .kid import kernel_inception_distance

    r = as_float_matrix(real_features, "reference features")
    f = as_float_matrix(fake_features, "generated features")
    n = min(len(r), len(f))
    sizes = sample_sizes(n, max(2, n // 5) if min_n is None else min_n, points)
    values = [kernel_inception_distance(r, f, subsets=subsets, subset_size=int(m), seed=seed + i)["mean"]
              for i, m in enumerate(sizes)]
    rng = np.random.default_rng(seed)
    resampled = []
    for b in range(int(bootstrap)):
        rb, fb = r[rng.integers(0, len(r), len(r))], f[rng.integers(0, len(f), len(f))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            resampled.append(kernel_inception_distance(rb, fb, subsets=subsets, subset_size=int(sizes[-1]),
                                                       seed=seed + b)["mean"])
    return _result(sizes, values, np.std(resampled, ddof=1) if len(resampled) > 1 else 0.0)
