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
  not. It is the default for FID. KID is unbiased and its percentile interval covered the
  closed-form MMD² in 95 % of 60 Gaussian runs (the basic one in 85 %): KID uses percentile.

The k-NN metrics (precision, recall, density, coverage) are not bootstrapped (:func:`prdc_ci`).
A resample with replacement holds copies of points, which k-NN radii and the union of balls
treat badly; on the Gaussians of ``tests/test_bootstrap.py`` (N = 300, 300 runs) holding the
original balls fixed and reweighting points covered 76 %, 76 %, 97 %, 73 % (P, R, D, C), and
recomputing the radii on the resample with a point's own copies left out gave standard errors
30-50 % too large and replicates off-centre by up to 0.09. Instead they use random groups
(Wolter 2007, "Introduction to Variance Estimation", 2nd ed., ch. 2; Mahalanobis' interpenetrating
subsamples): each set is split at random into two halves, and the metrics on (real A, fake A) and
(real B, fake B) are two independent draws at half the sample size, so E[(θ_A − θ_B)²] / 2 =
Var(θ̂ at N/2) exactly. The metrics' variance scales as 1/N (N·Var constant within ±8 % from
N = 75 to 1200 there), so se² = mean over B random splits of ((θ_A − θ_B) / 2)² estimates
Var(θ̂ at N). Halves hold no duplicates: each is the metric of a genuine sample. The interval is
θ̂ ± z·se, on the logit scale for precision, recall and coverage (bounded by 0 and 1). Its target
is the metric's expectation at this N, not its N → ∞ limit: P/R/D/C are biased at finite N (on
those Gaussians precision averages 0.87 at N = 200, 0.88 at 300, 0.91 at 1200). Centring each half
on the halves' mean instead of on its complement (the delete-N/2 jackknife, Shao & Wu 1989)
overstated se by about 20 %.
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
    return {k: _interval(v, draws[k], level, replicates, method) for k, v in point.items()}


def fid_ci(real_features, fake_features, replicates=defaults.BOOTSTRAP_REPLICATES, level=defaults.CI_LEVEL,
           seed=defaults.SEED, method="basic"):
    """Bootstrap interval of the Fréchet distance (FID) between two feature sets.

    Each replicate's FD is :func:`gan_eval.metrics.fid.fid_from_features` on the resampled
    features (float64). Returns the ``"value"`` entry of :func:`bootstrap_ci`, its bounds
    clipped at 0 (a distance; the basic interval can reach below 0 when the bias is large, as
    with fewer samples than dimensions, where no interval is trustworthy).
    """
    from .fid import fid_from_features

    ci = bootstrap_ci(real_features, fake_features, lambda a, b: fid_from_features(a, b, warn=False),
                      replicates, level, seed, method)["value"]
    ci["low"], ci["high"] = max(ci["low"], 0.0), max(ci["high"], 0.0)
    return ci


def kid_ci(real_features, fake_features, replicates=defaults.BOOTSTRAP_REPLICATES, level=defaults.CI_LEVEL,
           seed=defaults.SEED, method="percentile", subsets=defaults.KID_SUBSETS,
           subset_size=defaults.KID_SUBSET_SIZE):
    """Bootstrap interval of KID (the mean over `subsets` subsets of `subset_size`, seeded by
    `seed`, as :func:`gan_eval.metrics.kid.kernel_inception_distance`; shrunk to the smaller set
    without a warning). Returns the ``"value"`` entry of :func:`bootstrap_ci`."""
    from .kid import kernel_inception_distance

    def stat(a, b):
        m = min(subset_size, len(a), len(b))
        return kernel_inception_distance(a, b, subsets=subsets, subset_size=m, seed=seed)["mean"]

    return bootstrap_ci(real_features, fake_features, stat, replicates, level, seed, method)["value"]


def prdc_ci(real_features, fake_features, replicates=defaults.BOOTSTRAP_REPLICATES, level=defaults.CI_LEVEL,
            seed=defaults.SEED, k_pr=defaults.PR_K, k_dc=defaults.DC_K):
    """Intervals of precision, recall (k = `k_pr`), density and coverage (k = `k_dc`) from
    repeated random half-sample splits (module docstring).

    Each of the `replicates` B splits cuts the real set into two random halves A, B (sizes
    ⌊N/2⌋ and ⌈N/2⌉) and the generated set likewise, computes the four metrics on (real A,
    fake A) and on (real B, fake B) exactly as :mod:`gan_eval.metrics.prdc` would on those
    subsets (k-NN radii among the half's own points), and keeps d = (θ_A − θ_B) / 2. The
    standard error is se = √(mean of d² over the B splits). The interval is θ̂ ± z·se, z the
    standard normal quantile of (1 + `level`)/2: for density clipped at 0; for precision, recall
    and coverage on the logit scale, logit θ̂ ± z·se / (θ̂(1 − θ̂)) (delta method), so it stays
    inside (0, 1) (θ̂ = 0 or 1: θ̂ ± z·se clipped to [0, 1]).

    `real_features` (N, D) and `fake_features` (M, D) floats; each half needs more than k
    points (N ≥ 2·max(k_pr, k_dc) + 2, M ≥ 2·k_pr + 2), else GanEvalError. Distances in
    float32 as ``prdc``. For speed, each point keeps its L = 4k + 24 nearest neighbours in its
    own set (k the largest k used there); a half in which fewer than k of them fall takes the
    L-th as its radius (probability below 10⁻⁸ per point and split). Returns ``{"precision":
    {"value", "low", "high", "stderr", "level", "replicates", "method": "half-sample"},
    "recall": ..., "density": ..., "coverage": ...}``; ``value`` is exactly ``prdc``'s.
    """
    from statistics import NormalDist

    from .prdc import _prdc

    replicates = positive_int(replicates, "bootstrap replicates", minimum=2)
    if not 0.0 < float(level) < 1.0:
        raise GanEvalError(f"confidence level must be in (0, 1), got {level!r}")
    k_pr, k_dc = positive_int(k_pr, "k"), positive_int(k_dc, "k")
    real = as_float_matrix(real_features, "real features")
    fake = as_float_matrix(fake_features, "generated features", device=real.device)
    same_dims(real, fake, "real features", "generated features")
    n, m = real.shape[0], fake.shape[0]
    k_max = max(k_pr, k_dc)
    if n // 2 <= k_max or m // 2 <= k_pr:
        raise GanEvalError(f"precision/recall/density/coverage intervals need more than k samples in each half of "
                           f"a set (at least {2 * k_max + 2} real and {2 * k_pr + 2} generated), got {n} and {m}")
    point = _prdc(real, fake, k_pr=k_pr, k_dc=k_dc, dtype=torch.float32, device=None, max_elements=None)

    metrics = _half_metrics(real, fake, k_pr, k_dc)
    rng = np.random.default_rng(seed)
    half_diff = np.empty((replicates, 4))
    for b in range(replicates):
        mr, mf = np.zeros(n, bool), np.zeros(m, bool)
        mr[rng.permutation(n)[:n // 2]] = True
        mf[rng.permutation(m)[:m // 2]] = True
        half_diff[b] = (metrics(mr, mf) - metrics(~mr, ~mf)) / 2
    se = np.sqrt(np.mean(half_diff ** 2, axis=0))
    z = NormalDist().inv_cdf((1.0 + float(level)) / 2.0)
    out = {}
    for c, name in enumerate(("precision", "recall", "density", "coverage")):
        v, w = point[name], z * se[c]
        if name != "density" and 0.0 < v < 1.0:  # on the logit scale: the bounds stay in (0, 1)
            logit, dw = np.log(v / (1.0 - v)), w / (v * (1.0 - v))
            lo, hi = 1.0 / (1.0 + np.exp(dw - logit)), 1.0 / (1.0 + np.exp(-logit - dw))
        else:
            lo, hi = max(v - w, 0.0), v + w if name == "density" else min(v + w, 1.0)
        out[name] = {"value": float(v), "low": float(lo), "high": float(hi), "stderr": float(se[c]),
                     "level": float(level), "replicates": replicates, "method": "half-sample"}
    return out


def _half_metrics(real, fake, k_pr, k_dc):
    """A function of two boolean masks (real N, fake M) returning [precision, recall, density,
    coverage] of ``prdc(real[mr], fake[mf])`` (k-NN radii within the masked points), from one
    distance pass over the full sets."""
    from ._knn import centred_tile, nearest_within, squared_distance_tile, tile_side, tiles
    from .prdc import _open_ball

    n, m = real.shape[0], fake.shape[0]
    k_max = max(k_pr, k_dc)
    centre = (real.mean(dim=0) + fake.mean(dim=0)) / 2
    fake = fake - centre
    real_d, real_i = nearest_within(real, min(n - 1, 4 * k_max + 24), centre)
    fake_d, fake_i = nearest_within(fake, min(m - 1, 4 * k_pr + 24))
    # Candidate pairs: no half's radius exceeds the distance to the L-th neighbour.
    r_max, f_max = _open_ball(real_d[:, -1]), _open_ball(fake_d[:, -1])
    in_real, in_fake = [], []  # (fake, real, squared distance) within a real / a fake point's largest ball
    side = tile_side()
    for ri in tiles(n, side):
        a, a_sq = centred_tile(real, ri, centre)
        for rj in tiles(m, side):
            b, b_sq = centred_tile(fake, rj)
            d = squared_distance_tile(a, a_sq, b, b_sq)  # real rows x fake columns
            for out, hit in ((in_real, d < r_max[ri, None]), (in_fake, d < f_max[None, rj])):
                i, j = torch.nonzero(hit, as_tuple=True)
                out.append(((j + rj.start).cpu().numpy(), (i + ri.start).cpu().numpy(), d[i, j].cpu().numpy()))
    in_real, in_fake = ([np.concatenate(c) for c in zip(*p)] for p in (in_real, in_fake))
    real_d, real_i, fake_d, fake_i = (t.cpu().numpy() for t in (real_d, real_i, fake_d, fake_i))

    def radii(dist, idx, member, k):
        """Squared open-ball radius of each point in the half `member`: its k-th neighbour there."""
        count = np.cumsum(member[idx], axis=1)
        pos = np.where(count[:, -1] >= k, np.argmax(count >= k, axis=1), dist.shape[1] - 1)
        r = dist[np.arange(len(dist)), pos]
        return np.where(r > 0, r, -np.inf)  # as _open_ball: a zero radius holds nothing

    def distinct(index, size):
        seen = np.zeros(size, bool)
        seen[index] = True
        return int(seen.sum())

    def metrics(mr, mf):
        nr, nf = mr.sum(), mf.sum()
        r_pr, r_dc = radii(real_d, real_i, mr, k_pr), radii(real_d, real_i, mr, k_dc)
        f_pr = radii(fake_d, fake_i, mf, k_pr)
        j, i, d = in_real
        both = mr[i] & mf[j]
        j, i, d = j[both], i[both], d[both]
        hit_dc = d < r_dc[i]
        rj, ri, rd = in_fake
        both = mr[ri] & mf[rj]
        rj, ri, rd = rj[both], ri[both], rd[both]
        return np.array([distinct(j[d < r_pr[i]], m) / nf,
                         distinct(ri[rd < f_pr[rj]], n) / nr,
                         hit_dc.sum() / (k_dc * nf),
                         distinct(i[hit_dc], n) / nr])

    return metrics


def _interval(value, draws, level, replicates, method):
    alpha = (1.0 - float(level)) / 2.0
    lo, hi = np.quantile(draws, [alpha, 1.0 - alpha])
    if method == "basic":
        lo, hi = 2.0 * value - hi, 2.0 * value - lo
    return {"value": float(value), "low": float(lo), "high": float(hi), "level": float(level),
            "replicates": replicates, "method": method}
