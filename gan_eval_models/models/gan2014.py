"""The original GAN: Goodfellow et al. 2014, "Generative Adversarial Nets" (NeurIPS).

Images (the paper's MNIST model, from ``mnist.yaml`` of github.com/goodfeli/adversarial):

- G: z ∈ R^100, z ~ U(−√3, √3) (``noise: 'uniform'`` in the yaml) → 1200 ReLU → 1200 ReLU →
  H·W·C sigmoid. Weights U(−0.05, 0.05), hidden biases 0, output biases the logit of the
  training pixel means (pylearn2's ``init_sigmoid_bias_from_marginals``).
- D: two maxout layers of 240 units × 5 pieces → 1 sigmoid unit; weights U(−0.005, 0.005).
  Dropout: inputs kept with probability 0.8 (scaled 1.25), hidden inputs with 0.5 (scaled 2).
- Training, the paper's code: SGD, batch 100, lr 0.1 divided by 1.000004 after every update
  (floor 1e-6), momentum 0.5 rising linearly to 0.7 between epochs 1 and 250; train[0:50000],
  with train[50000:60000] held out for validation. The yaml's cost (AdversaryCost2) trains G with
  the non-saturating objective and updates G and D simultaneously from each minibatch. In our
  port that schedule mode-collapses within a few thousand updates (see the README), so it is
  kept as ``optimizer="sgd"`` (:data:`YAML_SGD`), not as the default.
- Training, our default on images: the same nets, initialisation, latent and non-saturating
  loss, trained with Adam (β = (0.5, 0.999)), G at lr 2e-4 and D at 1e-4 (a slower D kept G
  from collapsing onto one digit), alternating updates (Algorithm 1, k = 1), batch 100; samples
  come from a moving average of G's weights (decay 0.9999, ``ema``; Yazıcı et al. 2019), which
  removes the pixel speckle of single iterates. On the Parzen protocol a longer average scored
  higher: 0.999 / 0.9995 / 0.9998 / 0.9999 gave 195.8 / 200.3 / 206.0 / 208.0 nats at 45,000
  steps of one run (README, quality check).

2-D points (the MLP of PacGAN's 2D-ring/2D-grid experiments, Lin et al. 2018, which follows
VEEGAN): z ∈ R^2 ~ N(0, I) → 4 × [linear 400 (no bias) → batch norm → ReLU] → linear 2;
D: 3 × linear-maxout (200 units, 5 pieces) → linear 1. Weights N(0, 0.02), biases 0.
Adam lr 1e-4, β = (0.8, 0.999), batch 100, non-saturating loss.
"""

import math

import numpy as np
import torch
import torch.nn as nn

from .layers import Discriminator, Generator, Maxout, init_normal

PAPER = "Goodfellow et al. 2014, Generative Adversarial Nets"
OBJECTIVE = "gan"

IMAGE_DEFAULTS = {
    "batch_size": 100, "lr": 2e-4, "d_lr": 1e-4, "betas": (0.5, 0.999), "loss": "non-saturating",
    "latent": "uniform", "latent_dim": 100, "optimizer": "adam", "width": 1200, "update": "alternating",
    "ema": 0.9999,
}
# mnist.yaml's optimiser, chosen with optimizer="sgd" (the trainer applies `schedule` to it)
YAML_SGD = {"lr": 0.1, "d_lr": 0.1, "momentum": 0.5, "n_train": 50_000, "update": "simultaneous", "schedule": True,
            "ema": 0.0}
POINTS_DEFAULTS = {
    "batch_size": 100, "lr": 1e-4, "loss": "non-saturating", "latent": "gaussian", "latent_dim": 2,
    "optimizer": "adam", "betas": (0.8, 0.999), "width": 400,
}

LR_DECAY, LR_MIN = 1.000004, 1e-6
MOMENTUM_START, MOMENTUM_FINAL, MOMENTUM_EPOCHS = 0.5, 0.7, (1, 250)


def defaults(spec):
    return dict(IMAGE_DEFAULTS if spec["kind"] == "image" else POINTS_DEFAULTS)


def optimizer_settings(spec):
    """Settings for an optimiser other than the default, by name (the trainer's generic ones otherwise)."""
    return {"sgd": dict(YAML_SGD)} if spec["kind"] == "image" else {}


def schedule(step, lr0, batch_size, n_train):
    """The yaml's SGD schedule at update `step`: (learning rate, momentum)."""
    lr = max(lr0 * math.exp(-step * math.log(LR_DECAY)), LR_MIN)
    epoch = step * batch_size // n_train
    start, saturate = MOMENTUM_EPOCHS
    alpha = min(max((epoch - start) / (saturate - start), 0.0), 1.0) if epoch >= start else 0.0
    return lr, MOMENTUM_START * (1 - alpha) + MOMENTUM_FINAL * alpha


# --- images -----------------------------------------------------------------------------------


def mlp_image_nets(spec, latent_dim, latent, width, pack, minibatch_disc, n_cond=0, n_outputs=1):
    out_dim = int(np.prod(spec["shape"]))
    g = nn.Sequential(
        nn.Linear(latent_dim + n_cond, width), nn.ReLU(),
        nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, out_dim), nn.Sigmoid(),
    )
    for m in g:
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -0.05, 0.05)
            nn.init.zeros_(m.bias)
    body = nn.Sequential(
        nn.Flatten(), nn.Dropout(0.2), Maxout(out_dim * pack, 240, 5),
        nn.Dropout(0.5), Maxout(240, 240, 5), nn.Dropout(0.5),
    )
    d = Discriminator(body, 240, n_outputs, pack, minibatch_disc)
    for m in d.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -0.005, 0.005)
            nn.init.zeros_(m.bias)
    G = Generator(g, latent_dim, latent, spec["shape"], (0.0, 1.0), n_cond)
    return G, d


def init_from_data(G, mean_image):
    """Set the sigmoid output biases so that σ(b) equals the training pixel means (pylearn2's rule)."""
    last = G.net[-2]
    if isinstance(last, nn.Linear) and last.out_features == mean_image.numel():
        p = mean_image.reshape(-1).double().clamp(1e-6, 1 - 1e-6)
        with torch.no_grad():
            last.bias.copy_(torch.log(p / (1 - p)).to(last.bias.dtype))


# --- 2-D points -------------------------------------------------------------------------------


def mlp_points_nets(latent_dim, latent, width, pack, minibatch_disc, n_cond=0, n_outputs=1, disc_width=200):
    layers, d_in = [], latent_dim + n_cond
    for _ in range(4):
        layers += [nn.Linear(d_in, width, bias=False), nn.BatchNorm1d(width, momentum=0.05), nn.ReLU()]
        d_in = width
    layers.append(nn.Linear(width, 2))
    g = nn.Sequential(*layers)
    body = nn.Sequential(
        Maxout(2 * pack, disc_width, 5), Maxout(disc_width, disc_width, 5), Maxout(disc_width, disc_width, 5)
    )
    d = Discriminator(body, disc_width, n_outputs, pack, minibatch_disc)
    init_normal(g)
    init_normal(d)
    for m in g.modules():  # blocks' batch norm starts at scale 1, shift 0
        if isinstance(m, nn.BatchNorm1d):
            nn.init.ones_(m.weight)
    return Generator(g, latent_dim, latent, (2,), None, n_cond), d


def build(spec, latent_dim, latent, width, pack=1, minibatch_disc=False):
    if spec["kind"] == "points":
        return mlp_points_nets(latent_dim, latent, width, pack, minibatch_disc)
    return mlp_image_nets(spec, latent_dim, latent, width, pack, minibatch_disc)
