"""2-D Gaussian mixtures used to study mode collapse (PacGAN, VEEGAN, Unrolled GAN).

- ``ring(n_modes=8, radius=1.0, std=0.01)``: K equal-weight isotropic Gaussians with centres
  r·(cos 2πk/K, sin 2πk/K); the defaults are PacGAN's 2D-ring (Lin et al. 2018).
- ``grid(side=5, spacing=2.0, std=0.05)``: side² Gaussians on a centred square lattice,
  {−4, −2, 0, 2, 4}² with the defaults (PacGAN's 2D-grid).

A sample's *mode* is its nearest centre when it lies closer than ``n_std`` standard deviations
to it (3σ in PacGAN/VEEGAN): "high quality" samples are those, and a mode is *captured* when at
least one sample is assigned to it (:func:`gan_eval.mode_coverage` computes these numbers).
"""

import itertools

import numpy as np
import torch

from gan_eval import defaults
from gan_eval.errors import GanEvalError


class GaussianMixture:
    """Equal-weight mixture of isotropic 2-D Gaussians N(c_k, std² I)."""

    def __init__(self, centres, std, name="mixture"):
        centres = np.asarray(centres, dtype=np.float64)
        if centres.ndim != 2 or centres.shape[1] != 2 or len(centres) < 1:
            raise GanEvalError(f"{name}: centres must be a (K, 2) array, got shape {centres.shape}")
        if not (np.isfinite(std) and std > 0):
            raise GanEvalError(f"{name}: std must be a positive number, got {std!r}")
        self.centres = centres
        self.std = float(std)
        self.name = name

    @property
    def n_modes(self):
        return len(self.centres)

    def __repr__(self):
        return f"GaussianMixture({self.name}, modes={self.n_modes}, std={self.std})"

    def sample_with_labels(self, n, generator=None, dtype=torch.float32):
        """Draw `n` points and their component indices (component first, then the offset)."""
        k = torch.randint(self.n_modes, (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        x = torch.from_numpy(self.centres)[k] + self.std * noise
        return x.to(dtype), k

    def sample(self, n, generator=None, dtype=torch.float32):
        """Draw `n` points: tensor (n, 2)."""
        return self.sample_with_labels(n, generator, dtype)[0]

    def assign(self, points, n_std=defaults.MODES_STD_THRESHOLD):
        """Index of the nearest centre for each point closer than `n_std`·std to it, else −1."""
        p = np.asarray(points, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 2:
            raise GanEvalError(f"points must be an (n, 2) array, got shape {p.shape}")
        d = np.sqrt(((p[:, None, :] - self.centres[None, :, :]) ** 2).sum(-1))
        nearest = d.argmin(1)
        close = d[np.arange(len(p)), nearest] < n_std * self.std
        return np.where(close, nearest, -1)

    def mode_counts(self, points, n_std=defaults.MODES_STD_THRESHOLD, min_count=defaults.MODES_MIN_COUNT):
        """:func:`gan_eval.mode_coverage` of `points` for this mixture (modes captured, high-quality
        fraction, reverse KL, histogram)."""
        from gan_eval.metrics.modes import mode_coverage

        return mode_coverage(points, self.centres, self.std, threshold=n_std, min_count=min_count)

def ring(n_modes=8, radius=1.0, std=0.01):
    """`n_modes` Gaussians evenly spaced on a circle of `radius` (PacGAN 2D-ring defaults)."""
    if isinstance(n_modes, bool) or int(n_modes) != n_modes or n_modes < 1:
        raise GanEvalError(f"ring: n_modes must be a positive integer, got {n_modes!r}")
    if not radius > 0:
        raise GanEvalError(f"ring: radius must be positive, got {radius!r}")
    angles = 2 * np.pi * np.arange(int(n_modes)) / int(n_modes)
    return GaussianMixture(radius * np.stack([np.cos(angles), np.sin(angles)], 1), std, "ring")


def grid(side=5, spacing=2.0, std=0.05):
    """`side`² Gaussians on a square lattice of `spacing`, centred at 0 (PacGAN 2D-grid defaults)."""
    if isinstance(side, bool) or int(side) != side or side < 1:
        raise GanEvalError(f"grid: side must be a positive integer, got {side!r}")
    if not spacing > 0:
        raise GanEvalError(f"grid: spacing must be positive, got {spacing!r}")
    axis = (np.arange(int(side)) - (side - 1) / 2) * spacing
    return GaussianMixture(np.array(list(itertools.product(axis, axis))), std, "grid")
