"""Latent distributions and the truncation trick.

- ``gaussian``: z ~ N(0, I).
- ``uniform``: z ~ U(−√3, √3)^d (unit variance; the noise of Goodfellow et al.'s mnist.yaml).
- ``uniform1``: z ~ U(−1, 1)^d (DCGAN's code; PacGAN's VEEGAN-setting Stacked MNIST code).

Truncation with threshold ψ > 0 (Brock et al. 2019; Marchesi 2017): every component with
|z_i| > ψ is drawn again until none is left, i.e. each component follows the latent restricted
to [−ψ, ψ]. Below ψ = 0.32 (where fewer than a quarter of the draws would land inside, and a
tiny ψ would take forever) the Gaussian is truncated exactly by inverse CDF instead:
z = √2 · erfinv((2u − 1) · erf(ψ/√2)), u ~ U(0, 1), computed in float64. For the uniform latent that restriction is exactly U(−min(ψ, √3), min(ψ, √3)), which
is what we draw; ψ ≥ √3 leaves it unchanged (``uniform1``: ψ ≥ 1). Latents are drawn on the CPU from a seeded
``torch.Generator``, so samples do not depend on the device.
"""

import math

import torch

from gan_eval.errors import GanEvalError

LATENTS = ("gaussian", "uniform", "uniform1")
UNIFORM_HALF_WIDTH = math.sqrt(3.0)
HALF_WIDTHS = {"uniform": UNIFORM_HALF_WIDTH, "uniform1": 1.0}
INVERSE_CDF_BELOW = 0.32  # ψ under which truncation draws by inverse CDF (P(|z| ≤ ψ) < 1/4)


def check_truncation(truncation):
    if truncation is None:
        return None
    try:
        psi = float(truncation)
    except (TypeError, ValueError):
        raise GanEvalError(f"truncation must be a positive number, got {truncation!r}") from None
    if not (math.isfinite(psi) and psi > 0):
        raise GanEvalError(f"truncation must be a positive number, got {truncation!r}")
    return psi


def sample_latent(n, dim, kind="gaussian", generator=None, truncation=None, device=None):
    """Draw an (n, dim) float32 latent batch, optionally truncated at ψ = `truncation`."""
    psi = check_truncation(truncation)
    if kind == "gaussian":
        if psi is not None and psi < INVERSE_CDF_BELOW:
            u = torch.rand(n, dim, generator=generator, dtype=torch.float64)
            half = math.erf(psi / math.sqrt(2.0))
            z = (math.sqrt(2.0) * torch.erfinv((2.0 * u - 1.0) * half)).clamp_(-psi, psi).float()
            return z if device is None else z.to(device)
        z = torch.randn(n, dim, generator=generator)
        if psi is not None:
            bad = z.abs() > psi
            while bool(bad.any()):
                z[bad] = torch.randn(int(bad.sum()), generator=generator)
                bad = z.abs() > psi
    elif kind in HALF_WIDTHS:
        half = HALF_WIDTHS[kind] if psi is None else min(psi, HALF_WIDTHS[kind])
        z = (torch.rand(n, dim, generator=generator) * 2.0 - 1.0) * half
    else:
        raise GanEvalError(f"unknown latent distribution {kind!r}; known: {', '.join(LATENTS)}")
    return z if device is None else z.to(device)
