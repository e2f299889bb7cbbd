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

Split-bf16 ("bf16x3", see `split_precision`): each convolution runs on bfloat16 halves of
its float32 operands, x = x_hi + x_lo and w = w_hi + w_lo (hi the bf16 rounding, lo the bf16
rounding of the remainder), as x·w ≈ x_hi·w_hi + x_hi·w_lo + x_lo·w_hi. The three products are
one convolution over three times the input channels, [x_hi, x_hi, x_lo] against
[w_hi, w_lo, w_hi]. Every operand is exact in bf16 and every product of two bf16 numbers is exact
in float32, so a matrix engine that takes bf16 inputs and accumulates in float32 (oneDNN's
"bf16 fp32 math mode" on AMX CPUs, TF32 tensor cores on GPUs: bf16 fits in TF32's mantissa)
computes the sum at float32 accuracy; what is left out is x_lo·w_lo and the rounding of the two
tails, ~2⁻¹⁶ relative per product (pool3 features ~5e-5 from float32's with the reference
weights). Activations stay float32 between layers. Where no bf16 unit exists, an equivalent
form runs in float32 (`_split_input`; twice the float32 work, the same numbers up to the order of
summation): that is how the accuracy is measured on any CPU.

On CPU, a batch runs through the network in near-equal chunks of at most `CPU_CHUNK` images,
which bounds the activation memory (at 50 images the map that the stem's first max pool reads
is 277 MB, at 13 images 72 MB).

`FIDInceptionV3` itself is left as it is (its parameter names are the weight files' layout);
`fuse` returns a separate module with the same ``forward(x, outputs)``. Its features equal the
unfused network's up to float32 round-off (≈2e-6 relative with the reference weights; in
float64 the two agree to ~1e-14; see tests/test_fused.py).
"""

import contextlib
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
        self._split = None  # [w_hi, w_lo, w_hi] along the input channels (and its packed copy), on first use

    def _apply(self, fn, *args, **kwargs):
        self._packed = self._split = None  # .to(), .double() ... make the derived copies stale
        return super()._apply(fn, *args, **kwargs)

    activation = "relu"

    def _conv(self, x):
        """The convolution plus bias, with `activation` applied when oneDNN fuses it (flag True)."""
        split = _SPLIT["on"] and x.dtype == torch.float32
        if split:
            x = _split_input(x)
        if _use_onednn(x):
            y = _onednn_conv(self, x, split)
            if y is not None:
                return y, True
        w = _split_weight(self)[0] if split else self.conv.weight
        return F.conv2d(x, w, self.conv.bias, self.conv.stride, self.conv.padding), False

    def forward(self, x):
        y, activated = self._conv(x)
        return y if activated else F.relu(y, inplace=True)


class ConvPoolReLU(ConvReLU):
    """A pool branch (3x3 average pool ignoring padding, then a BasicConv2d) computed as folded
    1x1 convolution, then the pool, then ReLU: the same map with the pool on fewer channels."""

    activation = "none"

    def __init__(self, layer):
        super().__init__(layer)
        self.pool = AvgPool3x3()

    def forward(self, x):
        return F.relu(self.pool(self._conv(x)[0]), inplace=True)


_ONEDNN = {"ok": torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")}


def _use_onednn(x):
    if not _ONEDNN["ok"] or x.device.type != "cpu" or x.dtype != torch.float32:
        return False
    try:
        autocast = torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4
        autocast = torch.is_autocast_cpu_enabled()
    return not autocast  # bf16 autocast must see the plain conv2d


def _onednn_conv(layer, x, split=False):
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
        if split:
            weight, packed = _split_weight(layer)
            if packed is None:
                packed = torch._C._nn.mkldnn_reorder_conv2d_weight(weight.to_mkldnn(), *args, list(x.shape))
                layer._split = (_SPLIT["engine"], weight, packed)
        else:
            if layer._packed is None:
                layer._packed = torch._C._nn.mkldnn_reorder_conv2d_weight(c.weight.detach().to_mkldnn(), *args,
                                                                          list(x.shape))
            packed = layer._packed
        return torch.ops.mkldnn._convolution_pointwise(x, packed, c.bias, *args, layer.activation, [], "")
    except (RuntimeError, AttributeError, NotImplementedError):
        _ONEDNN["ok"] = False
        return None


def split_bf16(t):
    """``(hi, lo)``: float32 tensors of bf16-representable values with t ≈ hi + lo.

    hi is t rounded to bfloat16 (8-bit significand), lo the bfloat16 rounding of t − hi; the
    error |t − hi − lo| is at most 2⁻¹⁶ |t| (bf16's unit roundoff 2⁻⁸, twice).
    """
    hi = t.to(torch.bfloat16).float()
    return hi, (t - hi).to(torch.bfloat16).float()


def _split_weight(layer):
    """(split weight, its oneDNN-packed copy or None): [w_hi, w_lo, w_hi] along the input channels,
    or in the emulated form [w_hi + w_lo, w_hi] (see `_split_input`)."""
    form = _SPLIT["engine"]
    if layer._split is None or layer._split[0] != form:
        hi, lo = split_bf16(layer.conv.weight.detach())
        w = torch.cat([hi, lo, hi] if form else [hi + lo, hi], 1)
        layer._split = (form, w.contiguous(memory_format=torch.channels_last), None)
    return layer._split[1:]


# Split-bf16 state: on or off; the form (see `_split_input`); the last input split (the branches
# of an Inception block read the same input, so it is split once).
_SPLIT = {"on": False, "engine": True, "last": None}


def _split_input(x):
    """[x_hi, x_hi, x_lo] along the channels, in x's memory format (for [w_hi, w_lo, w_hi]).

    Without a bf16 engine the emulated form [x_hi, x_lo] against [w_hi + w_lo, w_hi] gives the
    same sum with 2/3 of the float32 work: x_hi (8 significant bits) times w_hi + w_lo (16) is
    still exact in float32.
    """
    last = _SPLIT["last"]
    if last is not None and last[0] is x:
        return last[1]
    n, c, h, w = x.shape
    parts = 3 if _SPLIT["engine"] else 2
    fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and c > 1 else torch.contiguous_format
    out = torch.empty((n, parts * c, h, w), dtype=x.dtype, device=x.device, memory_format=fmt)
    hi = x.to(torch.bfloat16)
    out[:, :c].copy_(hi)
    if parts == 3:
        out[:, c:2 * c].copy_(hi)
    out[:, (parts - 1) * c:].copy_((x - out[:, :c]).to(torch.bfloat16))
    _SPLIT["last"] = (x, out)
    return out


@contextlib.contextmanager
def split_precision(engine=True):
    """Run the fused network's convolutions in split-bf16 inside this block (see the module doc).

    Lets oneDNN (CPU) take bf16 inputs with float32 accumulation for float32 convolutions, and
    cuDNN (CUDA) use TF32 tensor cores: exact on the split operands, which are bf16-representable.
    ``engine=False`` (no bf16 hardware) uses the emulated form of `_split_input`: the same numbers
    up to the order of summation, in float32. Restores the previous settings on exit.
    """
    mk = torch.backends.mkldnn
    saved = (_SPLIT["on"], _SPLIT["engine"], mk.conv.fp32_precision, torch.backends.cudnn.allow_tf32)
    _SPLIT["on"], _SPLIT["engine"], _SPLIT["last"] = True, bool(engine), None
    mk.conv.fp32_precision = "bf16"
    torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        _SPLIT["on"], _SPLIT["engine"], _SPLIT["last"] = saved[0], saved[1], None
        mk.conv.fp32_precision = saved[2]
        torch.backends.cudnn.allow_tf32 = saved[3]


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
