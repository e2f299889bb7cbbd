"""Building blocks shared by the model families.

- :class:`Maxout` (Goodfellow et al. 2013): h_i = max_j (W x + b)_{i,j} over `pieces` linear units.
- :class:`MinibatchDiscrimination` (Salimans et al. 2016, §3.2): with features f(x_i) ∈ R^A and a
  tensor T ∈ R^{A×B×C}, M_i = f(x_i)·T ∈ R^{B×C};
  c_b(x_i, x_j) = exp(−‖M_{i,b} − M_{j,b}‖_1) and o(x_i)_b = Σ_{j≠i} c_b(x_i, x_j).
  The B values are concatenated to f(x_i) before the last layer (defaults B=100 kernels, C=5).
  The sum leaves out j = i (as the authors' code does; the paper's sum differs by the constant 1).
- :func:`pack` (PacGAN, Lin et al. 2018): m consecutive samples are concatenated along the
  channel (images) or feature (vectors) axis, so D judges m-tuples; its input size grows × m.
- :class:`Generator` / :class:`Discriminator`: thin wrappers that give every family the same
  interface (latent description, output range, packing, minibatch discrimination, heads).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_eval.errors import GanEvalError


class Maxout(nn.Module):
    def __init__(self, in_features, out_features, pieces):
        super().__init__()
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x):
        return self.linear(x).view(x.shape[0], self.out_features, self.pieces).amax(-1)


class MinibatchDiscrimination(nn.Module):
    """Appends B closeness-to-the-rest-of-the-batch features to each row (Salimans et al. 2016)."""

    def __init__(self, in_features, n_kernels=100, kernel_dim=5):
        super().__init__()
        self.n_kernels, self.kernel_dim = n_kernels, kernel_dim
        # N(0, 0.05) as in the authors' code
        self.T = nn.Parameter(torch.randn(in_features, n_kernels * kernel_dim) * 0.05)

    @property
    def out_features(self):
        return self.T.shape[0] + self.n_kernels

    def forward(self, f):
        m = (f @ self.T).view(f.shape[0], self.n_kernels, self.kernel_dim).transpose(0, 1)  # (B, n, C)
        dist = torch.cdist(m, m, p=1)  # (B, n, n) L1 distances
        o = torch.exp(-dist).sum(-1) - 1.0  # drop the j = i term, exp(0) = 1
        return torch.cat([f, o.t()], dim=1)


def pack(x, m):
    """Concatenate m consecutive samples along axis 1: (n·m, C, ...) → (n, m·C, ...)."""
    if m == 1:
        return x
    if x.shape[0] % m:
        raise GanEvalError(f"packing degree {m} does not divide the batch of {x.shape[0]} samples")
    return x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])


class Generator(nn.Module):
    """z ~ latent (plus a one-hot class for conditional models) → sample in `output_range`.

    Attributes: latent_dim, latent ("gaussian" | "uniform"), out_shape ((C, H, W) or (2,)),
    output_range ((lo, hi), or None for unbounded 2-D points), n_classes (0 = unconditional).
    """

    def __init__(self, net, latent_dim, latent, out_shape, output_range, n_classes=0):
        super().__init__()
        self.net = net
        self.latent_dim, self.latent = latent_dim, latent
        self.out_shape, self.output_range = tuple(out_shape), output_range
        self.n_classes = n_classes

    def forward(self, z, y=None):
        if self.n_classes:
            if y is None:
                raise GanEvalError("this generator is class-conditional: pass labels y")
            z = torch.cat([z, F.one_hot(y, self.n_classes).to(z.dtype)], dim=1)
        return self.net(z).view(z.shape[0], *self.out_shape)


class Discriminator(nn.Module):
    """pack → body (→ flat features) → [minibatch discrimination] → linear head (logits)."""

    def __init__(self, body, feature_dim, n_outputs=1, pack=1, minibatch_disc=False, mbd_kernels=100, mbd_dims=5):
        super().__init__()
        self.pack, self.n_outputs = pack, n_outputs
        self.body = body
        self.mbd = MinibatchDiscrimination(feature_dim, mbd_kernels, mbd_dims) if minibatch_disc else None
        self.head = nn.Linear(self.mbd.out_features if self.mbd is not None else feature_dim, n_outputs)

    def forward(self, x):
        h = self.body(pack(x, self.pack))
        if self.mbd is not None:
            h = self.mbd(h)
        return self.head(h)


def init_normal(module, std=0.02):
    """N(0, std) weights and zero biases for linear/conv layers; N(1, std) scales for batch norm."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
