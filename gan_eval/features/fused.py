"""An inference copy of the Inception network with batch norm folded into the convolutions.

In inference, batch norm is a per-channel affine map of the convolution output z = w ∗ x:
``γ (z − mean) / √(var + ε) + β``. Folding it into the convolution gives one convolution with

    w' = w · s,   b' = β − mean · s,   s = γ / √(var + ε)

(computed in float64, rounded to float32 once). On CPU each folded convolution, its bias and
the ReLU then run as one oneDNN call with weights pre-packed in oneDNN's blocked layout.

One more rewrite is exact in real arithmetic and cuts memory traffic, which bounds the
non-convolution part of the network on CPU. The pool branches of the A, C and first E blocks
average-pool x and then apply a 1x1 convolution. Both maps are linear (one mixes channels per
pixel, the other pixels per channel), so they commute: the copy convolves first and pools its
4-10x fewer output channels, then adds the ReLU. The bias commutes too, since the
padding-free average of a constant is the constant.

On CPU, a batch runs through the network in near-equal chunks of at most `CPU_CHUNK` images,
which bounds the activation memory (at 50 images the map that the stem's first max pool reads
is 277 MB, at 13 images 72 MB).

`FIDInceptionV3` itself is left as it is (its parameter names are the weight files' layout);
`fuse` returns a separate module with the same ``forward(x, outputs)``. Its features equal the
unfused network's up to float32 round-off (≈2e-6 relative with the reference weights; in
float64 the two agree to ~1e-14; see tests/test_fused.py).
"""

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from .inception import AvgPool3x3, BasicConv2d, FIDInceptionV3

# Most images per network call on CPU. With malloc keeping freed pages (heap.py), 12-13 and 50
# per call were equally fast on 2 cores and 1.03x as fast as chunks of 8 (README, "CPU extractor").
CPU_CHUNK = 16


def fold_batch_norm(layer):
    """(weight, bias) of the convolution equivalent to `layer` (a BasicConv2d) in eval mode."""
    conv, bn = layer.conv, layer.bn
    scale = bn.weight.double() / (bn.running_var.double() + bn.eps).sqrt()
    weight = conv.weight.double() * scale[:, None, None, None]
    bias = bn.bias.double() - bn.running_mean.double() * scale
    return weight.to(conv.weight.dtype), bias.to(conv.weight.dtype)


class ConvReLU(nn.Module):
    """A BasicConv2d with its batch norm folded: one biased convolution, then ReLU."""

    def __init__(self, layer):
        super().__init__()
        c = layer.conv
        self.conv = nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, stride=c.stride, padding=c.padding,
                              bias=True, device="meta")  # no random init: the parameters come next
        weight, bias = fold_batch_norm(layer)
        self.conv.weight, self.conv.bias = nn.Parameter(weight, requires_grad=False), nn.Parameter(bias, False)
        self._packed = None  # the weights in oneDNN's blocked layout, made on the first CPU call

    def _apply(self, fn, *args, **kwargs):
        self._packed = None  # .to(), .double() ... make the packed copy stale
        return super()._apply(fn, *args, **kwargs)

    activation = "relu"

    def forward(self, x):
        if _use_onednn(x):
            y = _onednn_conv(self, x)
            if y is not None:
                return y
        return F.relu(self.conv(x), inplace=True)


class ConvPoolReLU(ConvReLU):
    """A pool branch (3x3 average pool ignoring padding, then a BasicConv2d) computed as folded
    1x1 convolution, then the pool, then ReLU: the same map with the pool on fewer channels."""

    activation = "none"

    def __init__(self, layer):
        super().__init__(layer)
        self.pool = AvgPool3x3()

    def forward(self, x):
        y = _onednn_conv(self, x) if _use_onednn(x) else None
        if y is None:
            y = self.conv(x)
        return F.relu(self.pool(y), inplace=True)


_ONEDNN = {"ok": torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")}


def _use_onednn(x):
    if not _ONEDNN["ok"] or x.device.type != "cpu" or x.dtype != torch.float32:
        return False
    try:
        autocast = torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4
        autocast = torch.is_autocast_cpu_enabled()
    return not autocast  # bf16 autocast must see the plain conv2d


def _onednn_conv(layer, x):
    """Convolution, bias and `layer.activation` in one oneDNN call with pre-packed weights (None if
    unavailable).

    Saves the separate pass of the ReLU over every output and the per-call weight reorder, which
    matters most on the small 17x17 and 8x8 maps: ≈1.4x fewer CPU-seconds per image than the
    folded network in eager PyTorch. These are PyTorch's internal oneDNN ops (the ones
    torch.compile emits on CPU); if they fail, the plain path is used from then on.
    """
    c = layer.conv
    args = (list(c.padding), list(c.stride), list(c.dilation), c.groups)
    try:
        if layer._packed is None:
            layer._packed = torch._C._nn.mkldnn_reorder_conv2d_weight(c.weight.detach().to_mkldnn(), *args,
                                                                      list(x.shape))
        return torch.ops.mkldnn._convolution_pointwise(x, layer._packed, c.bias, *args, layer.activation, [], "")
    except (RuntimeError, AttributeError, NotImplementedError):
        _ONEDNN["ok"] = False
        return None


class FusedInceptionV3(nn.Module):
    """Inference-only FID Inception with batch norm folded: the outputs of `FIDInceptionV3`."""

    OUTPUTS = FIDInceptionV3.OUTPUTS

    def __init__(self, model):
        super().__init__()
        if not isinstance(model, FIDInceptionV3):
            raise TypeError(f"expected an FIDInceptionV3, got {type(model).__name__}")
        # Copy the network with each BasicConv2d replaced by its folded ConvReLU (the memo makes
        # deepcopy take the replacement instead of copying the layer); an average pool before a
        # branch's 1x1 convolution moves behind it.
        replacements = {id(m): ConvReLU(m) for m in model.modules() if isinstance(m, BasicConv2d)}
        for block in model.modules():
            if isinstance(getattr(block, "pool", None), AvgPool3x3):
                replacements[id(block.pool)] = nn.Identity()
                replacements[id(block.branch_pool)] = ConvPoolReLU(block.branch_pool)
        self.net = copy.deepcopy(model, replacements).eval().requires_grad_(False)

    @property
    def has_logits(self):
        return self.net.has_logits

    def forward(self, x, outputs=("pool3",)):
        if x.device.type != "cpu" or len(x) <= CPU_CHUNK:
            return self.net(x, outputs=outputs)
        # near-equal chunks: 50 images run as 13 + 13 + 12 + 12, not 16 + 16 + 16 + 2
        parts = [self.net(chunk, outputs=outputs) for chunk in x.tensor_split(math.ceil(len(x) / CPU_CHUNK))]
        return {name: torch.cat([p[name] for p in parts]) for name in parts[0]}


def fuse(model):
    """A `FusedInceptionV3` built from `model` (an FIDInceptionV3 in eval mode); `model` is unchanged."""
    return FusedInceptionV3(model)
