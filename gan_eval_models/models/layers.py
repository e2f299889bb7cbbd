"""Building blocks shared by the model families.

- :class:`Maxout` (Goodfellow et al. 2013): h_i = max_j (W x + b)_{i,j} over `pieces` linear units.
- :class:`MinibatchDiscrimination` (Salimans et al. 2016, §3.2; ``MinibatchLayer`` of
  openai/improved-gan ``nn.py``): features f ∈ R^A of a batch of N rows, a weight-normalised
  tensor W = θ · exp(s) / ‖θ‖ (θ ∈ R^{A×B×C}, norm over A, log-scale s ∈ R^{B×C}) and a bias
  b ∈ R^B give M_i = f_i·W ∈ R^{B×C} and o_{i,b} = Σ_{j≠i} exp(−‖M_{i,b} − M_{j,b}‖_1) + b_b.
  ``data_init`` sets s so that the mean nearest-neighbour L1 distance is 2 and b = −mean o on a
  real batch, as the reference's init pass does. Defaults B = 100 kernels, C = 5. The
  discriminator feeds it a low-dimensional vector (the body's output, or the channel means of
  its last feature map, as the reference's global pooling does), not flattened conv features.
- :func:`pack` (PacGAN, Lin et al. 2018): m consecutive samples are concatenated along the
  channel (images) or feature (vectors) axis, so D judges m-tuples; its input size grows × m.
- :class:`SameConv2d` / :class:`SameConvTranspose2d`: TensorFlow's ``padding="SAME"`` convolutions
  (output side ⌈in / stride⌉; the padding, total max((out − 1)·stride + k − in, 0), goes
  ⌊total / 2⌋ before and the rest after, so odd totals pad one more at the bottom/right than
  PyTorch's symmetric padding), for nets ported from TensorFlow code.
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


# Bumped whenever the layer's computation changes, so that runs trained with an earlier layer
# are neither resumed nor reused (train.run_identity, reproduce.common.ensure_trained).
MBD_REVISION = "improved-gan-port-1"


class MinibatchDiscrimination(nn.Module):
    """B closeness-to-the-rest-of-the-batch features per row (Salimans et al. 2016, §3.2).

    A faithful port of ``MinibatchLayer`` (openai/improved-gan, ``nn.py``): θ ~ N(0, 0.05),
    log-scale 0 and bias −1 before :meth:`data_init`. ``forward(f)`` maps (N, A) float features
    to the (N, B) features o (the caller concatenates them to its own features); a row's own
    term is left out of the sum (the reference adds 1e6 to the self-distance).
    """

    def __init__(self, in_features, n_kernels=100, kernel_dim=5):
        super().__init__()
        self.n_kernels, self.kernel_dim = n_kernels, kernel_dim
        self.theta = nn.Parameter(torch.randn(in_features, n_kernels, kernel_dim) * 0.05)
        self.log_weight_scale = nn.Parameter(torch.zeros(n_kernels, kernel_dim))
        self.b = nn.Parameter(torch.full((n_kernels,), -1.0))

    def weight(self):
        """W = θ · exp(s) / ‖θ‖ over the input axis: (A, B, C)."""
        return self.theta * (self.log_weight_scale.exp() / self.theta.square().sum(0).sqrt())

    def distances(self, f):
        """(B, N, N) L1 distances between rows' kernel projections (diagonal: 0)."""
        m = torch.einsum("na,abc->bnc", f, self.weight())
        return torch.cdist(m, m, p=1)

    def _closeness(self, dist):
        # exp(−d) summed over j ≠ i: the reference's +1e6 on the diagonal makes exp underflow to 0.
        # d is capped at 80 (exp(−80) ≈ 2e-35) because float32 exp is ~10× slower where its result
        # is subnormal; the sum with b is unchanged in float32.
        eye = torch.eye(dist.shape[-1], dtype=torch.bool, device=dist.device)
        return torch.exp(-dist.clamp(max=80.0)).masked_fill(eye, 0.0).sum(-1).t()  # (N, B)

    def forward(self, f):
        if f.shape[0] < 2:
            raise GanEvalError("minibatch discrimination needs at least 2 rows in a batch")
        return self._closeness(self.distances(f)) + self.b

    @torch.no_grad()
    def data_init(self, f):
        """Scale each kernel so that the mean nearest-neighbour L1 distance over `f` is 2, then set
        b = −mean o (the reference's ``init=True`` pass). `f`: (N, A) features of real data."""
        if f.shape[0] < 2:
            raise GanEvalError("minibatch discrimination's init needs at least 2 rows")
        dist = self.distances(f)
        eye = torch.eye(dist.shape[-1], dtype=torch.bool, device=dist.device)
        half_mean_nn = 0.5 * dist.masked_fill(eye, float("inf")).amin(-1).mean(-1)  # (B,)
        self.log_weight_scale.sub_(half_mean_nn.log()[:, None])
        self.b.copy_(-self._closeness(dist / half_mean_nn[:, None, None]).mean(0))


def same_padding(size_in, size_out, kernel, stride):
    """(before, after) padding of TensorFlow's "SAME" rule for a conv from `size_in` to `size_out`."""
    total = max((size_out - 1) * stride + kernel - size_in, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Module):
    """``tf.nn.conv2d(..., padding="SAME")`` on square (N, C, S, S) maps: S → ⌈S / stride⌉."""

    def __init__(self, c_in, c_out, kernel, stride, size_in, bias=True):
        super().__init__()
        self.size_out = -(-size_in // stride)
        before, after = same_padding(size_in, self.size_out, kernel, stride)
        self.pad = (before, after, before, after)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, 0, bias=bias)

    def forward(self, x):
        return self.conv(F.pad(x, self.pad))


class SameConvTranspose2d(nn.Module):
    """``tf.nn.conv2d_transpose(..., output_shape, padding="SAME")``: the transpose of the SAME conv
    from `size_out` to `size_in`, i.e. the full transposed conv ((in − 1)·stride + k) cropped by
    that conv's padding (before, after)."""

    def __init__(self, c_in, c_out, kernel, stride, size_in, size_out, bias=True):
        super().__init__()
        if -(-size_out // stride) != size_in:
            raise GanEvalError(f"a SAME transposed conv of stride {stride} cannot map {size_in} to {size_out}")
        self.crop = same_padding(size_out, size_in, kernel, stride)[0]
        self.size_out = size_out
        self.conv = nn.ConvTranspose2d(c_in, c_out, kernel, stride, 0, bias=bias)

    def forward(self, x):
        c, s = self.crop, self.size_out
        return self.conv(x)[..., c:c + s, c:c + s]


def pack(x, m):
    """Concatenate m consecutive samples along axis 1: (n·m, C, ...) → (n, m·C, ...)."""
    if m == 1:
        return x
    if x.shape[0] % m:
        raise GanEvalError(f"packing degree {m} does not divide the batch of {x.shape[0]} samples")
    return x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])


class Generator(nn.Module):
    """z ~ latent (plus a one-hot class for conditional models) → sample in `output_range`.

    Attributes: latent_dim, latent ("gaussian" | "uniform" | "uniform1"), out_shape ((C, H, W) or (2,)),
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
    """pack → body → flat features [+ minibatch discrimination of a pooled vector] → linear head.

    `body` maps packed inputs to a vector (N, feature_dim) or a feature map (N, C, H, W) whose
    flattening has feature_dim entries. Minibatch discrimination reads the vector, or the map's
    channel means (`pooled_dim` = C), and appends its `mbd_kernels` features to the head's input.
    """

    def __init__(self, body, feature_dim, n_outputs=1, pack=1, minibatch_disc=False, mbd_kernels=100, mbd_dims=5,
                 pooled_dim=None):
        super().__init__()
        self.pack, self.n_outputs = pack, n_outputs
        self.body = body
        mbd_in = pooled_dim if pooled_dim is not None else feature_dim
        self.mbd = MinibatchDiscrimination(mbd_in, mbd_kernels, mbd_dims) if minibatch_disc else None
        self.head = nn.Linear(feature_dim + (mbd_kernels if minibatch_disc else 0), n_outputs)

    @staticmethod
    def _pooled(h):
        return h.mean(dim=tuple(range(2, h.dim()))) if h.dim() > 2 else h

    def forward(self, x):
        h = self.body(pack(x, self.pack))
        flat = h.flatten(1)
        if self.mbd is not None:
            flat = torch.cat([flat, self.mbd(self._pooled(h))], dim=1)
        return self.head(flat)

    @torch.no_grad()
    def init_minibatch_disc(self, x):
        """Data-dependent init of the minibatch-discrimination layer from real samples `x`."""
        if self.mbd is not None:
            self.mbd.data_init(self._pooled(self.body(pack(x, self.pack))))


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
