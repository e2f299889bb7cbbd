"""The DCGAN of PacGAN's Stacked MNIST experiment in VEEGAN's setting (Lin et al. 2018, Table 2;
the PacGAN authors' code ``stacked_MNIST_experiments/VEEGAN_experiment/model.py``, built on
DCGAN-tensorflow): 4-layer nets of 5×5 stride-2 convolutions with TensorFlow's "SAME" padding
(:class:`~.layers.SameConv2d`), for 28×28 images only.

- G: z ∈ R^100 ~ U(−1, 1) → linear to 2×2×512 → batch norm → ReLU → 5×5 stride-2 transposed
  convs to 4×4×256, 7×7×128, 14×14×64 (each batch norm, ReLU) and 28×28×C → tanh.
  4,514,819 parameters for C = 3.
- D: 5×5 stride-2 convs to 14×14×64 (LeakyReLU 0.2, no batch norm), 7×7×128, 4×4×256 and
  2×2×512 (each batch norm, LeakyReLU 0.2) → linear → 1 logit. 4,310,401 parameters for C = 3;
  packing m multiplies the first conv's input channels by m (PacGAN's packed D).
- Adam 2e-4, β = (0.5, 0.999), batch 64, non-saturating loss; conv weights truncated N(0, 0.02)
  (at ±2σ, TensorFlow's ``truncated_normal_initializer``), transposed-conv and linear weights
  N(0, 0.02), biases 0, batch-norm scale 1 and shift 0.
- Data range: that code scales the real images to [0, 1] (``X_stacked / 255.``) while G ends in
  tanh; the generator wrapper therefore reads samples in [0, 1] (values below 0 clip to black)
  and real batches are scaled to [0, 1], as there.
"""

import torch.nn as nn

from gan_eval.errors import GanEvalError

from .layers import Discriminator, Generator, SameConv2d, SameConvTranspose2d

PAPER = "Lin et al. 2018, PacGAN (VEEGAN-setting Stacked MNIST nets)"
OBJECTIVE = "gan"

DEFAULTS = {
    "batch_size": 64, "lr": 2e-4, "loss": "non-saturating", "latent": "uniform1", "latent_dim": 100,
    "optimizer": "adam", "betas": (0.5, 0.999), "width": 64,
}
SIZES = (28, 14, 7, 4, 2)  # TensorFlow SAME, stride 2: ⌈s / 2⌉


def _check(spec):
    if spec["kind"] != "image" or tuple(spec["shape"][1:]) != (28, 28):
        raise GanEvalError(f"dcgan-veegan is defined for 28x28 images only, not {spec['kind']} of shape {spec['shape']}")


def defaults(spec):
    _check(spec)
    return dict(DEFAULTS)


def build(spec, latent_dim, latent, width, pack=1, minibatch_disc=False):
    _check(spec)
    channels, w = spec["shape"][0], width
    g_widths = [8 * w, 4 * w, 2 * w, w]  # 512, 256, 128, 64
    g_layers = [nn.Linear(latent_dim, g_widths[0] * 2 * 2), nn.Unflatten(1, (g_widths[0], 2, 2)),
                nn.BatchNorm2d(g_widths[0]), nn.ReLU()]
    up = SIZES[::-1]  # 2, 4, 7, 14, 28
    for i, (c_in, c_out) in enumerate(zip(g_widths, g_widths[1:] + [channels])):
        g_layers.append(SameConvTranspose2d(c_in, c_out, 5, 2, up[i], up[i + 1]))
        g_layers += [nn.BatchNorm2d(c_out), nn.ReLU()] if i < len(g_widths) - 1 else [nn.Tanh()]
    g = nn.Sequential(*g_layers)

    d_widths = [w, 2 * w, 4 * w, 8 * w]  # 64, 128, 256, 512
    d_layers, c_in = [], channels * pack
    for i, c_out in enumerate(d_widths):
        d_layers.append(SameConv2d(c_in, c_out, 5, 2, SIZES[i]))
        d_layers += ([nn.BatchNorm2d(c_out)] if i else []) + [nn.LeakyReLU(0.2)]
        c_in = c_out
    d = Discriminator(nn.Sequential(*d_layers), d_widths[-1] * 2 * 2, 1, pack, minibatch_disc, pooled_dim=d_widths[-1])
    _init(g, d)
    return Generator(g, latent_dim, latent, spec["shape"], (0.0, 1.0)), d


def _init(g, d):
    """DCGAN-tensorflow's initialisers (ops.py: conv2d truncated normal, deconv2d and linear normal)."""
    for net in (g, d):
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.trunc_normal_(m.weight, 0.0, 0.02, -0.04, 0.04)
            elif isinstance(m, (nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
            else:
                continue
            nn.init.zeros_(m.bias)
