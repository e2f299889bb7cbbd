"""Fréchet Inception Distance.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium") is the Fréchet (2-Wasserstein) distance between Gaussians fitted to Inception pool3
features of two image sets:

    FID = ||μ1 − μ2||² + tr(Σ1) + tr(Σ2) − 2 tr((Σ1 Σ2)^{1/2})

The trace of the matrix square root equals Σ_i sqrt(λ_i) over the eigenvalues λ_i of Σ1 Σ2,
which are those of the symmetric PSD matrix Lᵀ Σ2 L for any factor Σ1 = L Lᵀ. We take L from a
Cholesky factorisation (or, for a singular Σ1, the symmetric square root from an
eigendecomposition), so the computation is symmetric, float64, never complex, and negative
round-off eigenvalues are clipped to zero. With fewer samples than dimensions, and features at
hand, the eigenvalues are those of the small N x N matrix A Σ2 Aᵀ / (N − 1) (A: centred features),
which is exact and fast.
"""

import contextlib
import warnings

import numpy as np
import torch

from ..errors import GanEvalError


def _as_mu_sigma(mu, sigma, name):
    mu = np.atleast_1d(np.asarray(mu, dtype=np.float64))
    sigma = np.atleast_2d(np.asarray(sigma, dtype=np.float64))
    if mu.ndim != 1:
        raise GanEvalError(f"{name}: mean must be a vector, got shape {mu.shape}")
    if sigma.shape != (mu.shape[0], mu.shape[0]):
        raise GanEvalError(f"{name}: covariance of shape {sigma.shape} does not match a mean of {mu.shape[0]} dimensions")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise GanEvalError(f"{name}: statistics contain NaN or infinite values")
    return mu, sigma


@contextlib.contextmanager
def _one_thread():
    """Run LAPACK's symmetric eigensolvers on one thread.

    Their tridiagonal reduction is a long series of small parallel steps (one matrix-vector
    product per column); when the cores are shared with other work, every step waits for a
    descheduled thread. On 2 shared cores the 2048 x 2048 eigvalsh took 2-4 s with 2 threads and
    0.5-0.8 s with one (a 256 x 256 one: 5 s against 3 ms), so the FID ran ~3x faster overall.
    The level-3 steps (Cholesky, products) keep all threads.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _sqrt_psd(sigma):
    """Symmetric square root of a PSD matrix (negative round-off eigenvalues clipped)."""
    with _one_thread():
        w, v = torch.linalg.eigh(sigma)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def trace_sqrt_product(sigma1, sigma2):
    """tr((Σ1 Σ2)^{1/2}) for symmetric PSD Σ1, Σ2, in float64."""
    s1 = torch.from_numpy(np.ascontiguousarray(sigma1, dtype=np.float64))
    s2 = torch.from_numpy(np.ascontiguousarray(sigma2, dtype=np.float64))
    # Factor the better-conditioned side; the trace is symmetric in Σ1, Σ2.
    for a, b in ((s1, s2), (s2, s1)):
        factor, info = torch.linalg.cholesky_ex(a)
        if int(info) == 0:
            break
    else:
        factor = _sqrt_psd(s1)
        a, b = s1, s2
    m = factor.T @ b @ factor
    m = (m + m.T) / 2
    with _one_thread():
        eig = torch.linalg.eigvalsh(m)
    return float(eig.clamp(min=0).sqrt().sum())


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Fréchet distance between N(μ1, Σ1) and N(μ2, Σ2).

    ``d² = ||μ1 − μ2||² + tr(Σ1) + tr(Σ2) − 2 tr((Σ1 Σ2)^{1/2})`` computed in float64 through a
    symmetric eigenproblem (see the module docstring). Finite and correct for singular
    covariances; never complex; a tiny negative result from round-off is returned as 0.
    """
    mu1, sigma1 = _as_mu_sigma(mu1, sigma1, "first statistics")
    mu2, sigma2 = _as_mu_sigma(mu2, sigma2, "second statistics")
    if mu1.shape != mu2.shape:
        raise GanEvalError(f"dimension mismatch: {mu1.shape[0]} vs {mu2.shape[0]} features")
    diff = mu1 - mu2
    tr = trace_sqrt_product(sigma1, sigma2)
    d2 = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr)
    return max(d2, 0.0)


def _centred(features):
    a = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    return a - a.mean(dim=0, keepdim=True)


def trace_sqrt_product_lowrank(features1, sigma2):
    """tr((Σ1 Σ2)^{1/2}) exactly, from the N1 x d features behind Σ1 (useful when N1 < d).

    With A the centred features, Σ1 = AᵀA/(N1 − 1) and the non-zero eigenvalues of Σ1 Σ2 are
    those of the N1 x N1 matrix A Σ2 Aᵀ/(N1 − 1).
    """
    a = _centred(features1)
    s2 = torch.from_numpy(np.ascontiguousarray(sigma2, dtype=np.float64))
    m = (a @ s2 @ a.T) / (a.shape[0] - 1)
    m = (m + m.T) / 2
    with _one_thread():
        eig = torch.linalg.eigvalsh(m)
    return float(eig.clamp(min=0).sqrt().sum())


def fid_from_features(features1, features2, warn=True):
    """FID between two feature sets (N x d each), exact in the low-rank case.

    Uses the N x N form when the smaller set has fewer samples than dimensions, else the
    covariance form. Warns when a set has fewer samples than dimensions (the estimate is then
    strongly biased; published FIDs use 50,000 samples).
    """
    from ._checks import as_float_matrix, same_dims

    f1 = as_float_matrix(features1, "first features", dtype=torch.float64, min_rows=2)
    f2 = as_float_matrix(features2, "second features", dtype=torch.float64, min_rows=2)
    same_dims(f1, f2, "first features", "second features")
    return fid_from_moments(f1.mean(0).numpy(), np.cov(f1.numpy(), rowvar=False), f1.shape[0], f1.numpy(),
                            f2.mean(0).numpy(), np.cov(f2.numpy(), rowvar=False), f2.shape[0], f2.numpy(), warn=warn)


def fid_from_moments(mu1, sigma1, n1, feats1, mu2, sigma2, n2, feats2, warn=True):
    """FID from means and covariances, using kept features (or None) for the exact low-rank path."""
    mu1, sigma1 = _as_mu_sigma(mu1, sigma1, "first statistics")
    mu2, sigma2 = _as_mu_sigma(mu2, sigma2, "second statistics")
    if mu1.shape != mu2.shape:
        raise GanEvalError(f"dimension mismatch: {mu1.shape[0]} vs {mu2.shape[0]} features")
    d = mu1.shape[0]
    small = [(n, f, s_other) for n, f, s_other in ((n1, feats1, sigma2), (n2, feats2, sigma1))
             if n is not None and n < d]
    if warn and small:
        warnings.warn(
            f"FID from {min(n for n, _, _ in small)} samples (< {d} dimensions): the covariance is singular and the "
            "estimate strongly biased upwards; published FIDs use 50,000 samples", stacklevel=2)
    usable = [(n, f, s) for n, f, s in small if f is not None]
    if usable:
        n, f, s_other = min(usable, key=lambda t: t[0])
        tr = trace_sqrt_product_lowrank(f, s_other)
        diff = mu1 - mu2
        return max(float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr), 0.0)
    return frechet_distance(mu1, sigma1, mu2, sigma2)
