"""DCGAN: Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks" (ICLR).

For an image of side S = s0·2^n (s0 = 7 for 28 px, 4 for 32/64/…) and base width w (64):

- G: z ∈ R^100 ~ N(0, I) → linear "project and reshape" to s0×s0×(w·2^(n−1)) → batch norm → ReLU
  → n − 1 × [4×4 stride-2 transposed conv, channels halved → batch norm → ReLU]
  → 4×4 stride-2 transposed conv to C channels → tanh (images in [−1, 1]).
  64 px: 4×4×512 → 8×8×256 → 16×16×128 → 32×32×64 → 64×64×C; 32 px: 4×4×256 → … → 32×32×C;
  28 px: 7×7×128 → 14×14×64 → 28×28×C.
- D: the mirror image: 4×4 stride-2 convs (channels doubling from w), LeakyReLU 0.2, batch norm
  on all but the first; flatten → linear → 1 logit.
- Weights N(0, 0.02), batch-norm scales N(1, 0.02); Adam lr 2e-4, β = (0.5, 0.999), batch 128;
  non-saturating loss (the paper's section 4).
The paper's Theano code drew z ~ U(−1, 1); we use N(0, I) (as the PyTorch reference
implementation does) so the truncation trick applies.

On 2-D points the family uses the PacGAN MLP of :mod:`gan2014` with these optimiser settings
replaced by PacGAN's (Adam 1e-4, β1 0.8).
"""

import torch.nn as nn

from gan_eval.errors import GanEvalError

from . import gan2014
from .layers import Discriminator, Generator, init_normal

PAPER = "Radford et al. 2016, DCGAN"
OBJECTIVE = "gan"

IMAGE_DEFAULTS = {
    "batch_size": 128, "lr": 2e-4, "loss": "non-saturating", "latent": "gaussian", "latent_dim": 100,
    "optimizer": "adam", "betas": (0.5, 0.999), "width": 64,
}


def defaults(spec):
    if spec["kind"] == "points":
        return dict(gan2014.POINTS_DEFAULTS)
    return dict(IMAGE_DEFAULTS)


def layout(size):
    """(s0, n): the starting side and the number of stride-2 steps for an image side `size`."""
    if size == 28:
        return 7, 2
    s, n = size, 0
    while s > 4 and s % 2 == 0:
        s, n = s // 2, n + 1
    if s != 4 or n < 1:
        raise GanEvalError(f"DCGAN nets need an image side of 28 or 4·2^k (8, 16, 32, 64, …), got {size}")
    return 4, n


def conv_nets(spec, latent_dim, latent, width, pack, minibatch_disc, n_cond=0, n_outputs=1):
    channels, size, _ = spec["shape"]
    s0, n = layout(size)
    widths = [width * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 512, 256, 128, 64
    g_layers = [
        nn.Linear(latent_dim + n_cond, widths[0] * s0 * s0, bias=False),
        nn.Unflatten(1, (widths[0], s0, s0)),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(),
    ]
    for c_in, c_out in zip(widths[:-1], widths[1:]):
        g_layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
    g_layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
    g = nn.Sequential(*g_layers)

    rev = widths[::-1]  # 64, 128, 256, 512
    d_layers = [nn.Conv2d(channels * pack, rev[0], 4, 2, 1), nn.LeakyReLU(0.2)]
    for c_in, c_out in zip(rev[:-1], rev[1:]):
        d_layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]
    d = Discriminator(nn.Sequential(*d_layers), rev[-1] * s0 * s0, n_outputs, pack, minibatch_disc, pooled_dim=rev[-1])
    init_normal(g)
    init_normal(d)
    return Generator(g, latent_dim, latent, spec["shape"], (-1.0, 1.0), n_cond), d


def nets(spec, latent_dim, latent, width, pack, minibatch_disc, n_cond=0, n_outputs=1):
    """The conv nets for images, PacGAN's MLP for 2-D points."""
    if spec["kind"] == "points":
        return gan2014.mlp_points_nets(latent_dim, latent, width, pack, minibatch_disc, n_cond, n_outputs)
    return conv_nets(spec, latent_dim, latent, width, pack, minibatch_disc, n_cond, n_outputs)


def build(spec, latent_dim, latent, width, pack=1, minibatch_disc=False):
    return nets(spec, latent_dim, latent, width, pack, minibatch_disc)
