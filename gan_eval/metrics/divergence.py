"""Kullback-Leibler and Jensen-Shannon divergences, between histograms or from samples.

Two kinds of input, chosen by the shape of the arguments and never guessed:

* **Histograms** (discrete distributions): two 1-D arrays of the same length, non-negative,
  each summing to a positive number (counts are fine: both are normalised). Mode histograms,
  class-prediction histograms.
* **Samples** of continuous distributions: two 2-D arrays (n, d) and (m, d), estimated by
  k-nearest-neighbour distances. Samples of a 1-D variable are passed as (n, 1) columns, or as
  1-D arrays with ``samples=True``.

Passing ``samples=True`` or ``samples=False`` states the kind explicitly; inputs that fit
neither reading (a 1-D and a 2-D array, a histogram with negative entries, `k` for histograms)
raise :class:`GanEvalError` with a message that says what to pass instead.

Results are in nats (``base="e"``) or bits (``base=2``; any base > 0, ≠ 1, divides by its log).

Sample inputs: uint8 input is read as 8-bit pixels and divided by 255 (the [0, 1] units of the image protocols, as the CLI does); every other dtype is used in its own units.
"""

import math

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.special import digamma

from .. import defaults
from ..devices import resolve_device
from ..errors import GanEvalError
from ._checks import as_float_matrix, positive_int, same_dims
from ._knn import kth_neighbour_distance

LN2 = math.log(2.0)
KD_TREE_MAX_DIM = 8  # k-d trees beat blocked brute force in low dimension only


def _log_base(base):
    if isinstance(base, str):
        if base.lower() == "e":
            return 1.0
        raise GanEvalError(f"base must be 'e' or a number > 0 other than 1 (2 for bits), got {base!r}")
    try:
        b = float(base)
    except (TypeError, ValueError):
        raise GanEvalError(f"base must be 'e' or a number > 0 other than 1 (2 for bits), got {base!r}") from None
    if not (math.isfinite(b) and b > 0 and b != 1):
        raise GanEvalError(f"base must be 'e' or a number > 0 other than 1 (2 for bits), got {base!r}")
    return math.log(b)


def _ndim(a):
    return a.ndim if hasattr(a, "ndim") else np.ndim(a)


def _kind(p, q, samples, k):
    """'hist' or 'samples', from the explicit flag or the shapes, else GanEvalError."""
    dims = (_ndim(p), _ndim(q))
    if samples is None:
        if dims == (1, 1):
            if k is not None:
                raise GanEvalError("k applies to the k-NN estimator on samples; 1-D inputs are read as histograms "
                                   "(pass samples=True for samples of a 1-D variable)")
            return "hist"
        if dims == (2, 2):
            return "samples"
        raise GanEvalError(f"p is {dims[0]}-D and q is {dims[1]}-D: pass two 1-D histograms, or two 2-D sample arrays "
                           "(n, d) (with samples=True, 1-D arrays are samples of a 1-D variable)")
    if samples:
        if any(n not in (1, 2) for n in dims):
            raise GanEvalError(f"samples must be 1-D or 2-D arrays (n, d), got {dims[0]}-D and {dims[1]}-D")
        return "samples"
    if k is not None:
        raise GanEvalError("k applies to the k-NN estimator on samples, not to histograms (samples=False)")
    if dims != (1, 1):
        raise GanEvalError(f"histograms must be 1-D arrays, got {dims[0]}-D and {dims[1]}-D (samples=False)")
    return "hist"


def _histogram(h, name, eps):
    if isinstance(h, torch.Tensor):
        h = h.detach().cpu().numpy()
    try:
        h = np.asarray(h, dtype=np.float64)
    except (TypeError, ValueError):
        raise GanEvalError(f"{name}: expected a histogram of numbers") from None
    if h.size == 0:
        raise GanEvalError(f"{name}: empty histogram")
    if not np.isfinite(h).all():
        raise GanEvalError(f"{name}: histogram contains NaN or infinite values")
    if (h < 0).any():
        raise GanEvalError(f"{name}: histogram has negative entries (for samples of a 1-D variable pass samples=True)")
    total = h.sum()
    if not total > 0:
        raise GanEvalError(f"{name}: histogram does not sum to a positive number (sum = {total:g})")
    h = h / total
    if eps:
        h = (h + eps) / (1.0 + eps * h.size)
    return h


def _histograms(p, q, eps):
    if eps is not None:
        try:
            eps = float(eps)
        except (TypeError, ValueError):
            raise GanEvalError(f"eps must be a number >= 0, got {eps!r}") from None
        if not (math.isfinite(eps) and eps >= 0):
            raise GanEvalError(f"eps must be a finite number >= 0, got {eps!r}")
    p, q = _histogram(p, "p", eps), _histogram(q, "q", eps)
    if p.shape != q.shape:
        raise GanEvalError(f"histograms p and q have different numbers of bins ({p.size} and {q.size}); "
                           "for samples pass samples=True")
    return p, q


def _kl_hist(p, q):
    support = p > 0
    if (q[support] == 0).any():
        return math.inf
    ps, qs = p[support], q[support]
    return max(0.0, float(np.sum(ps * (np.log(ps) - np.log(qs)))))


def _jsd_hist(p, q):
    m = 0.5 * (p + q)
    total = 0.0
    for h in (p, q):
        s = h > 0
        total += 0.5 * float(np.sum(h[s] * (np.log(h[s]) - np.log(m[s]))))
    return min(max(total, 0.0), LN2)


def _samples(p, q, device):
    dev = resolve_device(device)
    x = as_float_matrix(p, "p", dtype=torch.float64, device=dev, uint8="pixels")
    y = as_float_matrix(q, "q", dtype=torch.float64, device=dev, uint8="pixels")
    same_dims(x, y, "p", "q")
    return x, y


def _check_k(k, sizes):
    k = positive_int(defaults.DIVERGENCE_K if k is None else k, "k")
    for name, available in sizes:
        if k > available:
            raise GanEvalError(f"k={k} is too large: {name} has only {available} neighbour(s) to choose from "
                               f"(need k < number of samples)")
    return k


def _kth(a, b, k, what):
    """k-th neighbour distances; a distance of zero up to float64 rounding means repeated points."""
    if a.shape[1] <= KD_TREE_MAX_DIM and a.device.type == "cpu":
        # exact and O(n log n) in low dimension; same rule as _knn (own zero counted first)
        tree = cKDTree((a if b is None else b).numpy())
        rank = k + 1 if b is None else k
        dist = torch.from_numpy(np.atleast_2d(tree.query(a.numpy(), k=[rank])[0])[:, -1].copy())
    else:
        dist = kth_neighbour_distance(a, b, k=k)
    ref = a if b is None else b
    # distances come from ||a||² - 2 a·b + ||b||² on data centred on ref's mean: below this
    # resolution a computed distance cannot be told from 0
    radius = float(torch.cat([a, ref]).sub(ref.mean(dim=0)).norm(dim=1).max())
    resolution = math.sqrt(8 * (a.shape[1] + 2) * 2.0**-53) * radius
    if bool((dist <= resolution).any()):
        raise GanEvalError(f"{what}: some points have their k-th nearest neighbour at distance 0 (repeated points, "
                           "or closer than float64 resolution); "
                           "the k-NN estimator needs samples of a continuous distribution (raise k or add tiny noise)")
    return dist


def _kl_knn(x, y, k):
    n, d = x.shape
    m = y.shape[0]
    k = _check_k(k, [("p (the other samples of p)", n - 1), ("q", m)])
    rho = _kth(x, None, k, "p")
    nu = _kth(x, y, k, "p against q")
    return float(d * torch.mean(torch.log(nu) - torch.log(rho)) + math.log(m / (n - 1)))


def _jsd_knn(x, y, k, seed):
    n = min(x.shape[0], y.shape[0])
    k = _check_k(k, [("the smaller sample", n - 1)])
    rng = np.random.default_rng(seed)
    if x.shape[0] > n:
        x = x[torch.from_numpy(np.sort(rng.choice(x.shape[0], n, replace=False))).to(x.device)]
    if y.shape[0] > n:
        y = y[torch.from_numpy(np.sort(rng.choice(y.shape[0], n, replace=False))).to(y.device)]
    d = x.shape[1]
    pooled = _kth(torch.cat([x, y]), None, k, "pooled p and q")
    own = torch.cat([_kth(x, None, k, "p"), _kth(y, None, k, "q")])
    jsd = float(digamma(2 * n) - digamma(n) + d * torch.mean(torch.log(pooled) - torch.log(own)))
    return min(max(jsd, 0.0), LN2)


def kl_divergence(p, q, *, samples=None, k=None, base="e", eps=None, device=None):
    """Kullback-Leibler divergence KL(P ‖ Q), between histograms or estimated from samples.

    **Histograms** (two 1-D arrays, or ``samples=False``): both are normalised to sum to 1, then

        KL(p ‖ q) = Σ_{i: p_i > 0} p_i log(p_i / q_i).

    Bins with ``p_i = 0`` contribute 0 (0 log 0 = 0). A bin with ``p_i > 0`` and ``q_i = 0``
    makes the divergence infinite (``math.inf`` is returned) unless ``eps`` smoothing is asked
    for: each normalised histogram becomes ``(h + eps) / (1 + eps * bins)``.

    **Samples** (two 2-D arrays (n, d), (m, d), or ``samples=True``): the k-nearest-neighbour
    estimator of Wang, Kulkarni & Verdú, "Divergence estimation for multidimensional densities
    via k-nearest-neighbor distances", IEEE Trans. Inf. Theory 55(5), 2009, eq. (5):

        D̂(P ‖ Q) = (d/n) Σ_i log(ν_k(i) / ρ_k(i)) + log(m / (n - 1)),

    with ρ_k(i) the Euclidean distance from x_i to its k-th nearest neighbour among the other
    x's and ν_k(i) the distance to its k-th nearest neighbour among the y's. It is consistent
    for any fixed k; a larger k lowers the variance and raises the finite-sample bias (default
    ``defaults.DIVERGENCE_K`` = 5). Small negative estimates (sampling noise when P ≈ Q) are
    returned as they are. Repeated points (zero distances) raise GanEvalError: the estimator is
    for continuous distributions. Distances are in float64: a k-d tree (``scipy.spatial.cKDTree``, exact)
    for d <= 8 on CPU, else the blocked brute force of ``gan_eval.metrics._knn`` (bounded memory,
    GPU capable).

    Parameters
    ----------
    p, q : array-like
        Histograms (1-D) or samples (2-D), see above.
    samples : bool, optional
        Force the reading of the inputs: True for samples, False for histograms.
    k : int, optional
        Neighbour rank for the sample estimator (k <= n - 1 and k <= m).
    base : 'e' or number
        Logarithm base: 'e' (nats, default) or 2 (bits).
    eps : float, optional
        Additive smoothing for histograms (see above).
    device : str or torch.device, optional
        Where the sample estimator computes distances. Default: CUDA when available, else CPU.

    Returns
    -------
    float (``math.inf`` for histograms where q misses part of p's support)
    """
    scale = _log_base(base)
    if _kind(p, q, samples, k) == "hist":
        p, q = _histograms(p, q, eps)
        return _kl_hist(p, q) / scale
    if eps is not None:
        raise GanEvalError("eps smooths histograms; it does not apply to samples")
    x, y = _samples(p, q, device)
    return _kl_knn(x, y, k) / scale


def js_divergence(p, q, *, samples=None, k=None, base="e", eps=None, seed=defaults.SEED, device=None):
    """Jensen-Shannon divergence JSD(P, Q) = ½ KL(P ‖ M) + ½ KL(Q ‖ M), M = ½ (P + Q).

    Bounded: 0 ≤ JSD ≤ log 2 (1 bit), and finite even where the supports differ (Lin, "Divergence
    measures based on the Shannon entropy", IEEE Trans. Inf. Theory 37(1), 1991). The 2014 GAN
    paper's generator criterion is C(G) = -log 4 + 2 JSD(p_data ‖ p_g).

    **Histograms** (two 1-D arrays, or ``samples=False``): exact, after normalising (and
    optional ``eps`` smoothing, as in :func:`kl_divergence`); empty bins contribute 0.

    **Samples** (two 2-D arrays, or ``samples=True``): JSD = H(M) - ½ H(P) - ½ H(Q) with every
    entropy estimated by the Kozachenko-Leonenko k-nearest-neighbour estimator (Kozachenko &
    Leonenko, Probl. Inf. Transm. 23(2), 1987; in the form of Kraskov, Stögbauer & Grassberger,
    Phys. Rev. E 69, 066138, 2004, eq. 20: Ĥ = ψ(N) - ψ(k) + log V_d + (d/N) Σ log ρ_k(i)),
    and H(M) estimated on the pooled sample of n points of each, a sample of M. The ψ(k) and
    log V_d terms cancel:

        JSD̂ = ψ(2n) - ψ(n) + (d / 2n) Σ_{z in pooled} log(ε_k(z) / ρ_k(z)),

    with ε_k(z) the distance from z to its k-th nearest other point of the pooled sample and
    ρ_k(z) that to its k-th nearest other point of its own sample. If the sample sizes differ,
    the larger one is subsampled (without replacement, ``seed``) to the smaller one's size, so
    that the pooled sample is drawn from ½ (P + Q). The estimate is clipped to [0, log 2]
    (sampling noise makes it slightly negative when P ≈ Q; ψ(2n) - ψ(n) exceeds log 2 by
    about 1/(4n) when the supports are disjoint).

    Parameters are those of :func:`kl_divergence`, plus `seed` for the subsample.
    """
    scale = _log_base(base)
    if _kind(p, q, samples, k) == "hist":
        p, q = _histograms(p, q, eps)
        return _jsd_hist(p, q) / scale
    if eps is not None:
        raise GanEvalError("eps smooths histograms; it does not apply to samples")
    x, y = _samples(p, q, device)
    return _jsd_knn(x, y, k, seed) / scale
