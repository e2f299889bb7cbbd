"""The small DCGAN of the Stacked MNIST experiment of Metz et al. 2017, "Unrolled Generative
Adversarial Networks" (ICLR), Table 2, whose discriminator is a quarter or half the size of
the generator; PacGAN (Lin et al. 2018, Table 3) packs the same nets. Layer sizes follow the
PacGAN authors' code for that table.

- G: z ∈ R^256 ~ N(0, I) → linear to 4×4×64 → batch norm → ReLU → 3×3 stride-2 transposed
  convs to 7×7×32, 14×14×16 and 28×28×8 (each batch norm, ReLU) → 3×3 conv to C channels → tanh.
- D: three 3×3 stride-2 convs with w, 2w and 4w channels (28 → 14 → 7 → 4), each followed by
  batch norm and LeakyReLU 0.3 → linear → 1 logit. ``width`` is w: 2 gives "D = ¼ G" (the
  default), 4 gives "D = ½ G".
- Adam with β = (0.5, 0.99): learning rate 1e-4 for G and 2e-4 for D; batch 128;
  non-saturating loss; weights N(0, 0.02).

For 28×28 images only (MNIST, Stacked MNIST). Where these nets differ from that code: batch-norm
scales start at N(1, 0.02) rather than 1, and PyTorch pads the stride-2 convolutions
symmetrically where TensorFlow's SAME padding puts the odd pixel after (D's first two convs, G's
last two transposed convs: a one-pixel shift). By default the trainer also differs (a fixed
seeded set of 60,000 Stacked MNIST images, G's update on its own z, samples with the running
batch-norm statistics); ``TrainConfig(real_batches="fresh", reuse_z=True, g_per_slot=True,
sample_bn="batch")`` follows the code instead (``reproduce stacked-mnist --setting paper``).
"""

import torch.nn as nn

from gan_eval.errors import GanEvalError

from .layers import Discriminator, Generator, init_normal

PAPER = "Metz et al. 2017, Unrolled GAN (Stacked MNIST nets)"
OBJECTIVE = "gan"

DEFAULTS = {
    "batch_size": 128, "lr": 1e-4, "d_lr": 2e-4, "loss": "non-saturating", "latent": "gaussian",
    "latent_dim": 256, "optimizer": "adam", "betas": (0.5, 0.99), "width": 2,
}


MBD_KERNELS, MBD_DIMS = 8, 3  # width 4: D has 1,889 parameters plain, 2,313 with these


def _check(spec):
    if spec["kind"] != "image" or tuple(spec["shape"][1:]) != (28, 28):
        raise GanEvalError(f"dcgan-small is defined for 28x28 images only, not {spec['kind']} of shape {spec['shape']}")


def defaults(spec):
    _check(spec)
    return dict(DEFAULTS)


def build(spec, latent_dim, latent, width, pack=1, minibatch_disc=False):
    _check(spec)
    channels = spec["shape"][0]
    g = nn.Sequential(
        nn.Linear(latent_dim, 64 * 4 * 4),
        nn.Unflatten(1, (64, 4, 4)),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.ConvTranspose2d(64, 32, 3, 2, 1),  # 4 → 7
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.ConvTranspose2d(32, 16, 3, 2, 1, output_padding=1),  # 7 → 14
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.ConvTranspose2d(16, 8, 3, 2, 1, output_padding=1),  # 14 → 28
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, channels, 3, 1, 1),
        nn.Tanh(),
    )
    widths = [width, 2 * width, 4 * width]
    d_layers, c_in = [], channels * pack
    for c_out in widths:  # 28 → 14 → 7 → 4
        d_layers += [nn.Conv2d(c_in, c_out, 3, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.3)]
        c_in = c_out
    # minibatch discrimination on the 4w channel means with few kernels, so that it does not dwarf D
    d = Discriminator(nn.Sequential(*d_layers), widths[-1] * 4 * 4, 1, pack, minibatch_disc,
                      mbd_kernels=MBD_KERNELS, mbd_dims=MBD_DIMS, pooled_dim=widths[-1])
    init_normal(g)
    init_normal(d)
    return Generator(g, latent_dim, latent, spec["shape"], (-1.0, 1.0)), d
