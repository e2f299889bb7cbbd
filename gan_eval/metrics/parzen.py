"""Parzen-window (Gaussian kernel density) log-likelihood, the protocol of the 2014 GAN paper.

Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, Table 1, following Breuleux,
Bengio & Vincent (2011): fit an isotropic Gaussian kernel density estimate on samples from the
generator and report the mean log-likelihood of held-out data under it,

    log p(x) = logsumexp_i( -||x - c_i||² / (2σ²) ) - log N - (d/2) log(2πσ²),

with ``c_1 .. c_N`` the generated samples ("centres") and ``d`` the dimension.

Protocol of the paper's code (``parzen_ll.py`` in the authors' ``adversarial`` repository), the
defaults of :func:`parzen_protocol`:

* pixels scaled to [0, 1];
* N = 10,000 generated samples as centres (``defaults.PARZEN_N_CENTRES``);
* σ chosen from ``numpy.logspace(-1, 0, 10)`` (``defaults.PARZEN_SIGMAS``) by the highest mean
  log-likelihood of the first 1,000 rows (``defaults.PARZEN_N_VALIDATION``) of the validation
  split, for MNIST ``train[50000:60000]``;
* report the mean over the test set ± its standard error ``std / sqrt(n_test)`` (numpy's
  population std, ``ddof=0``, as in the paper's code).

How it is computed (exact in float64, at float32 matrix-product speed)
----------------------------------------------------------------------
Both sets are centred on the mean of the centres, and squared distances come from one float32
matrix product per block of rows, ``||x||² + ||c||² - 2 x·c``. The error of every such distance
is bounded by ``δ = (γ_d + 8u)(||x|| + max_i ||c_i||)²`` (standard rounding-error analysis of a
float32 dot product, ``u = 2⁻²⁴``, ``γ_d = d u / (1 - d u)``; wider when torch is allowed TF32 or
bfloat16 matrix products). Those approximate distances are used *only to select* the terms that
matter: for each row, every centre whose approximate exponent lies within

    W = log N + 2δ/(2σ²) + log(1/τ),        τ = 1e-12,

nats of the row's largest exponent. The terms left out have true total weight at most
``N e^(-W + 2δ/2σ²) ≤ τ`` relative to the largest term, so dropping them changes log p(x) by
less than 1e-12 nats. The selected distances are recomputed exactly in float64 from the
differences ``x - c_i`` and the log-sum-exp is taken over them in float64. When a block selects
more than 1/512 of its terms (large σ, or data of huge norm), the block is instead evaluated
densely: a float64 matrix product on the centred data (relative error ~1e-13) and a float64
log-sum-exp over all terms. Either way the result agrees with a direct float64 computation to
about 1e-12 relative; ``tests/test_parzen.py`` checks it against ``scipy.special.logsumexp``.
"""

import math

import numpy as np
import torch

from .. import defaults
from ..devices import resolve_device
from ..errors import GanEvalError
from ._checks import as_float_matrix, positive_int, same_dims

_TAU = 1e-12  # absolute error budget (nats) for the terms left out of the log-sum-exp
_DENSE_FRACTION = 1.0 / 512  # above this share of selected terms, a dense float64 block is cheaper
_PAIR_BLOCK_ELEMENTS = 1 << 22  # float64 entries of x - c held at once when refining
SIGMA_RANGE = (1e-150, 1e150)  # bandwidths whose 2σ² is a normal float64


def _flat(a):
    """Rows of `a` as vectors: images (n, h, w[, c]) become (n, h*w*c)."""
    if isinstance(a, (np.ndarray, torch.Tensor)) and a.ndim > 2:
        return a.reshape(a.shape[0], -1)
    return a


def _check_sigmas(sigmas):
    try:
        s = np.atleast_1d(np.asarray(sigmas, dtype=np.float64))
    except (TypeError, ValueError):
        raise GanEvalError(f"sigma must be a positive number, got {sigmas!r}") from None
    if s.ndim != 1 or s.size == 0:
        raise GanEvalError("sigmas: need at least one bandwidth")
    bad = s[~(np.isfinite(s) & (s > 0))]
    if bad.size:
        raise GanEvalError(f"sigma must be a finite number > 0, got {float(bad[0])!r}")
    bad = s[(s < SIGMA_RANGE[0]) | (s > SIGMA_RANGE[1])]
    if bad.size:  # 2σ² would underflow to 0 or overflow to inf in float64
        raise GanEvalError(f"sigma must lie in [{SIGMA_RANGE[0]:g}, {SIGMA_RANGE[1]:g}], got {float(bad[0])!r}")
    return s


def _float32_unit_roundoff(device):
    """Unit roundoff of torch's float32 matrix product on `device` (TF32 / bfloat16 if allowed)."""
    precision = torch.get_float32_matmul_precision()
    tf32 = device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32
    if precision == "medium":
        return 2.0**-8
    if precision == "high" or tf32:
        return 2.0**-11
    return 2.0**-24


def _gamma(d, u):
    du = d * u
    return du / (1.0 - du) if du < 0.5 else math.inf


def _log_likelihoods(centres, x, sigmas, chunk_size=None, device=None):
    """Log-likelihoods of the rows of `x` for every bandwidth: float64 array (len(sigmas), n_x)."""
    sigmas = _check_sigmas(sigmas)
    dev = resolve_device(device)
    c64 = as_float_matrix(_flat(centres), "centres", dtype=torch.float64, device=dev, uint8="pixels")
    x64 = as_float_matrix(_flat(x), "x", dtype=torch.float64, device=dev, uint8="pixels")
    same_dims(c64, x64, "centres", "x")
    n, d = c64.shape
    if chunk_size is None:
        chunk_size = max(1, defaults.PARZEN_BLOCK_ELEMENTS // n)
    chunk_size = positive_int(chunk_size, "chunk_size")

    mean = c64.mean(dim=0)
    cc64 = c64 - mean
    xc64 = x64 - mean
    cc32, xc32 = cc64.float(), xc64.float()
    c_norm = cc64.norm(dim=1)
    x_norm = xc64.norm(dim=1)
    c_sq32 = (cc32 * cc32).sum(dim=1)
    x_sq = xc32.double().square().sum(dim=1)  # row constant, kept out of the float32 block
    c_sq64 = cc64.square().sum(dim=1)
    big = float(c_norm.max() + x_norm.max()) ** 2 > 1e30  # float32 squares could overflow
    u32 = _float32_unit_roundoff(dev)
    err32 = (_gamma(d, u32) + 8 * u32) * (x_norm + c_norm.max()) ** 2  # bound on |D32 - D|, per row

    const = math.log(n) + 0.5 * d * (math.log(2 * math.pi) + 2.0 * np.log(sigmas))  # per sigma, in log space
    out = np.empty((len(sigmas), x64.shape[0]), dtype=np.float64)
    rows_max = min(chunk_size, x64.shape[0])
    if not big:  # reused block buffers: g = ||c||² - 2 x·c (float32) and the selection mask
        g_buf = torch.empty(rows_max, n, dtype=torch.float32, device=dev)
        mask_buf = torch.empty(rows_max, n, dtype=torch.bool, device=dev)
    for start in range(0, x64.shape[0], chunk_size):
        stop = min(start + chunk_size, x64.shape[0])
        rows = stop - start
        d64 = None  # dense float64 distances of the block, computed when first needed

        def dense():
            nonlocal d64
            if d64 is None:
                xb = xc64[start:stop]
                d64 = torch.addmm(c_sq64[None, :], xb, cc64.T, alpha=-2.0)
                d64.add_(xb.square().sum(dim=1)[:, None]).clamp_(min=0)
            return d64

        if not big:
            g = torch.addmm(c_sq32[None, :], xc32[start:stop], cc32.T, alpha=-2.0, out=g_buf[:rows])
            d_min = g.amin(dim=1).double() + x_sq[start:stop]  # approximate nearest squared distance
        for j, sigma in enumerate(sigmas):
            two_var = 2.0 * sigma * sigma
            if not big:
                eps = err32[start:stop] / two_var
                window = math.log(n) + 2 * eps + math.log(1 / _TAU)
                thresh = d_min + two_var * window - x_sq[start:stop]
                thresh = (thresh + thresh.abs() * 2.0**-20).float()  # cover the cast's rounding
                mask = torch.le(g, thresh[:, None], out=mask_buf[:rows])
                selected = int(torch.count_nonzero(mask))
            if big or selected > _DENSE_FRACTION * rows * n:
                lse = torch.logsumexp(dense() / -two_var, dim=1)
            else:
                lse = _refined_lse(mask, x64[start:stop], c64, d_min, two_var)
            out[j, start:stop] = lse.cpu().numpy() - const[j]
    if not np.isfinite(out).all():  # -||x - c||²/2σ² overflowed: a σ far too small for these distances
        j = int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0])
        raise GanEvalError(f"sigma = {sigmas[j]:g}: the log-likelihood overflows float64 (the bandwidth is far too "
                           "small for the distances between these samples)")
    return out


def _refined_lse(mask, xb, c64, d_min, two_var):
    """log Σ exp(-||x - c||² / 2σ²) over the selected pairs, distances exact in float64."""
    r, c = mask.nonzero(as_tuple=True)
    sq = torch.empty(r.shape[0], dtype=torch.float64, device=xb.device)
    step = max(1, _PAIR_BLOCK_ELEMENTS // xb.shape[1])
    for s in range(0, r.shape[0], step):
        diff = xb.index_select(0, r[s:s + step]).sub_(c64.index_select(0, c[s:s + step]))
        sq[s:s + step] = diff.mul_(diff).sum(dim=1)
    # shift by the (approximate) largest exponent of each row: the exponents stay near 0
    terms = torch.exp((d_min[r] - sq) / two_var)
    sums = torch.zeros(xb.shape[0], dtype=torch.float64, device=xb.device).index_add_(0, r, terms)
    return torch.log(sums) - d_min / two_var


def parzen_log_likelihood(centres, x, sigma, chunk_size=None, device=None):
    """Per-example log-likelihood of `x` under an isotropic Gaussian Parzen window on `centres`.

        log p(x) = logsumexp_i( -||x - c_i||² / (2σ²) ) - log N - (d/2) log(2πσ²)

    (Goodfellow et al. 2014, Table 1; Breuleux et al. 2011). Exact to about 1e-12 relative in
    float64 while the heavy part runs as a float32 matrix product; see the module docstring for
    how. Memory is bounded: rows of `x` are processed in blocks.

    Parameters
    ----------
    centres : array (N, d) or (N, h, w[, c])
        Kernel centres: for the paper's protocol, 10,000 generated samples with pixels in [0, 1].
        Images are flattened; uint8 images are divided by 255 first (8-bit pixels into the
        protocol's [0, 1]); other dtypes are used in their own units.
    x : array (n, d) or (n, h, w[, c])
        Points to evaluate (the test set).
    sigma : float
        Kernel bandwidth σ > 0 (see :func:`select_bandwidth`).
    chunk_size : int, optional
        Rows of `x` per block. Default: ``defaults.PARZEN_BLOCK_ELEMENTS // N`` (a block of
        ``chunk_size x N`` float32 distances is about 64 MiB).
    device : str or torch.device, optional
        Where to compute. Default: CUDA when available, else CPU.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
    """
    if np.ndim(sigma) != 0:
        raise GanEvalError(f"sigma must be a single number, got an array of shape {np.shape(sigma)}")
    return _log_likelihoods(centres, x, [sigma], chunk_size=chunk_size, device=device)[0]


def select_bandwidth(centres, validation, sigmas=defaults.PARZEN_SIGMAS, return_scores=False, chunk_size=None, device=None):
    """The σ of `sigmas` with the highest mean validation log-likelihood.

    The paper's protocol: `centres` are 10,000 generated samples, `validation` the first 1,000
    rows of the validation split (MNIST ``train[50000:60000]``), `sigmas` the grid
    ``numpy.logspace(-1, 0, 10)`` (``defaults.PARZEN_SIGMAS``). Distances are computed once and
    reused for every σ. Ties go to the first σ in the grid (``numpy.argmax``, as in the paper's code).

    Returns
    -------
    sigma : float
        The selected bandwidth.
    scores : numpy.ndarray (len(sigmas),), only with ``return_scores=True``
        Mean validation log-likelihood for each σ, in the order of `sigmas`.
    """
    sigmas = _check_sigmas(sigmas)
    scores = _log_likelihoods(centres, validation, sigmas, chunk_size=chunk_size, device=device).mean(axis=1)
    best = float(sigmas[int(np.argmax(scores))])
    return (best, scores) if return_scores else best


def _first_rows(a, count, name, option):
    if count is None:
        return a
    count = positive_int(count, option)
    if len(a) < count:
        raise GanEvalError(f"{name}: the protocol uses {count} rows but only {len(a)} were given "
                           f"(lower {option}, --{option.replace('_', '-')} on the command line)")
    return a[:count]


def parzen_protocol(samples, validation, test, sigmas=defaults.PARZEN_SIGMAS, sigma=None,
                    n_centres=defaults.PARZEN_N_CENTRES, n_validation=defaults.PARZEN_N_VALIDATION,
                    n_test=None, chunk_size=None, device=None):
    """Run the 2014 GAN paper's Parzen protocol and return its numbers.

    The first `n_centres` rows of `samples` (default 10,000) are the kernel centres; σ is chosen
    among `sigmas` on the first `n_validation` rows of `validation` (default 1,000) unless a fixed
    `sigma` is given; the score is the mean log-likelihood of the first `n_test` rows of `test`
    (default: all) ± the standard error ``std / sqrt(n_test)`` (``ddof=0``, as in the paper's code).
    Float inputs must already be on the paper's scale (pixels in [0, 1]); uint8 images are divided by 255.

    Returns
    -------
    dict with ``mean``, ``sem``, ``sigma``, ``n_centres``, ``n_validation``, ``n_test``, and
    ``sigmas`` / ``validation_scores`` (mean validation log-likelihood per σ; empty lists when
    `sigma` was given).
    """
    grid = _check_sigmas(sigmas) if sigma is None else None
    if sigma is not None:
        if np.ndim(sigma) != 0:
            raise GanEvalError(f"sigma must be a single number, got an array of shape {np.shape(sigma)}")
        sigma = float(_check_sigmas(sigma)[0])
    centres = _first_rows(samples, n_centres, "samples", "n_centres")
    test = _first_rows(test, n_test, "test", "n_test")
    if sigma is None:
        if validation is None:
            raise GanEvalError("validation data is needed to select sigma (or give a fixed sigma)")
        validation = _first_rows(validation, n_validation, "validation", "n_validation")
        sigma, scores = select_bandwidth(centres, validation, grid, return_scores=True, chunk_size=chunk_size, device=device)
        grid = [float(s) for s in grid]
        n_val = len(validation)
    else:
        grid, scores, n_val = [], [], 0
    ll = parzen_log_likelihood(centres, test, sigma, chunk_size=chunk_size, device=device)
    return {
        "mean": float(ll.mean()),
        "sem": float(ll.std() / math.sqrt(ll.size)),
        "sigma": float(sigma),
        "n_centres": int(len(centres)),
        "n_validation": int(n_val),
        "n_test": int(ll.size),
        "sigmas": grid,
        "validation_scores": [float(s) for s in scores],
    }
