"""Resizing to 299 x 299 and scaling to [-1, 1], in the three conventions in use.

Each function takes one uint8 image as an H x W x 3 numpy array and returns a float32
3 x 299 x 299 tensor ready for the network.

- ``tensorflow`` (default): the uint8 values as float32, TensorFlow 1.x ``resize_bilinear``
  (align_corners=False, no half-pixel centres: source coordinate = destination · in/out), then
  (x − 128) / 128. This is what the TF graph of the original FID code does, and torch-fidelity,
  so numbers match published ones.
- ``pytorch-fid``: x / 255, ``F.interpolate(mode="bilinear", align_corners=False)`` (half-pixel
  centres, no antialiasing), then 2x − 1: pytorch-fid's exact steps.
- ``clean``: each channel as a float32 PIL image resized with PIL's bicubic filter (which
  antialiases when downsampling), clipped to [0, 255], then (x − 128) / 128: clean-fid's steps.

``batch(images, mode)`` does the same to a whole batch on the images' own device (a GPU training
loop's tensors never visit the host): quantisation as ``ArraySource`` does it, then the resize
as matrix products (PIL's bicubic as its own separable coefficient matrices, in float64 as PIL
accumulates). It agrees with the per-image functions to ~1e-7 (tests/test_preprocess.py).
"""

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .. import defaults
from ..errors import GanEvalError

SIZE = defaults.INCEPTION_SIZE


@lru_cache(maxsize=64)
def _tf1_bilinear_matrix(n_in, n_out):
    """Rows of weights W (n_out x n_in) with out = W @ in, as TF1 resize_bilinear computes it."""
    # float32 coordinates, as TF computes them: float64 would move some weights by ~1e-5.
    scale = np.float32(n_in) / np.float32(n_out)
    src = np.arange(n_out, dtype=np.float32) * scale
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo.astype(np.float32)
    w = np.zeros((n_out, n_in), dtype=np.float32)
    rows = np.arange(n_out)
    np.add.at(w, (rows, lo), 1.0 - frac)
    np.add.at(w, (rows, hi), frac)
    return torch.from_numpy(w)


def tf1_resize_bilinear(x, size=SIZE):
    """TF1 ``resize_bilinear`` of a float C x H x W (or N x C x H x W) tensor to size x size."""
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    wh = _tf1_bilinear_matrix(h, size).to(x.device)
    ww = _tf1_bilinear_matrix(w, size).to(x.device)
    return wh @ x @ ww.T


def _to_chw_float(img):
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()


def tensorflow(img):
    x = tf1_resize_bilinear(_to_chw_float(img))
    return x.sub_(128.0).div_(128.0)


def pytorch_fid(img):
    x = _to_chw_float(img).div(255.0)
    x = F.interpolate(x[None], size=(SIZE, SIZE), mode="bilinear", align_corners=False)[0]
    return x.mul_(2.0).sub_(1.0)


def clean(img):
    channels = []
    for c in range(3):
        ch = Image.fromarray(np.ascontiguousarray(img[:, :, c]).astype(np.float32))
        ch = ch.resize((SIZE, SIZE), resample=Image.BICUBIC)
        channels.append(np.asarray(ch).clip(0, 255))
    x = torch.from_numpy(np.stack(channels).astype(np.float32))
    return x.sub_(128.0).div_(128.0)


MODES = {"tensorflow": tensorflow, "pytorch-fid": pytorch_fid, "clean": clean}


def get(mode):
    if mode not in MODES:
        raise GanEvalError(f"unknown resize mode {mode!r}; choose one of: {', '.join(MODES)}")
    return MODES[mode]


@lru_cache(maxsize=64)
def _pil_bicubic_matrix(n_in, n_out):
    """Rows of weights K (n_out x n_in, float64) with out = K @ in, as PIL's resampling computes them
    (Resample.c, precompute_coeffs, bicubic a = -0.5; the support widens by the scale when
    downsampling, which is PIL's antialiasing; each row normalised to sum 1)."""
    def cubic(x):
        x = np.abs(x)
        a = -0.5
        return np.where(x < 1.0, ((a + 2.0) * x - (a + 3.0)) * x * x + 1,
                        np.where(x < 2.0, (((x - 5) * x + 8) * x - 4) * a, 0.0))

    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    k = np.zeros((n_out, n_in))
    for xx in range(n_out):
        center = (xx + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)  # C's (int) truncates, as here
        hi = min(int(center + support + 0.5), n_in)
        w = cubic((np.arange(lo, hi) - center + 0.5) / filterscale)
        total = w.sum()
        k[xx, lo:hi] = w / total if total != 0.0 else w
    return torch.from_numpy(k)


def quantised(images, name="images"):
    """N x 3 x H x W float32 tensor of the integers 0..255 that ``ArraySource`` would make of
    `images`, on the images' device.

    `images`: uint8 (NHWC, NCHW or NHW; 1, 3 or 4 channels: gray repeated, alpha dropped) or float
    in [0, 1] (rounded half to even from 255 x, in the input's float type), a tensor or numpy
    array. Raises GanEvalError for other dtypes, NaN or values outside [0, 1].
    """
    from ..inputs import _image_layout

    x = images
    if not isinstance(x, torch.Tensor):
        a = np.asarray(x)
        x = torch.from_numpy(a if a.flags.writeable else a.copy())
    layout = _image_layout(tuple(x.shape), name)
    if x.shape[0] == 0:
        raise GanEvalError(f"{name}: holds no images")
    if x.dtype != torch.uint8:
        if not x.is_floating_point():
            raise GanEvalError(f"{name}: expected uint8 images or floats in [0, 1], got dtype {x.dtype}")
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()  # float16 arithmetic would misround 255 x
        if not bool(torch.isfinite(x).all()):
            raise GanEvalError(f"{name}: contains NaN or infinite values")
        lo, hi = (float(v) for v in torch.aminmax(x))
        if lo < 0.0 or hi > 1.0:
            raise GanEvalError(f"{name}: float images must lie in [0, 1], found values in [{lo:.4g}, {hi:.4g}]")
        x = torch.round(x * 255.0)
    if layout == "NHWC":
        x = x.permute(0, 3, 1, 2)
    elif layout == "NHW":
        x = x[:, None]
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 4:
        x = x[:, :3]
    return x.float().contiguous()


def batch(images, mode=defaults.DEFAULT_RESIZE, name="images"):
    """A batch preprocessed on its own device: float32 N x 3 x 299 x 299 in [-1, 1].

    `images` as ``quantised`` takes them; `mode` one of ``MODES``. The same numbers as the
    per-image functions up to float32 summation order (≤ 1e-6 on the [-1, 1] pixels).
    """
    get(mode)
    x = quantised(images, name)
    h, w = x.shape[-2:]
    if mode == "tensorflow":
        return tf1_resize_bilinear(x).sub_(128.0).div_(128.0)
    if mode == "pytorch-fid":
        x = F.interpolate(x.div(255.0), size=(SIZE, SIZE), mode="bilinear", align_corners=False)
        return x.mul_(2.0).sub_(1.0)
    # clean: PIL resizes horizontally, stores float32, then vertically, accumulating in float64
    kh = _pil_bicubic_matrix(h, SIZE).to(x.device)
    kw = _pil_bicubic_matrix(w, SIZE).to(x.device)
    x = (x.double() @ kw.T).float() if w != SIZE else x
    x = (kh @ x.double()).float() if h != SIZE else x
    return x.clamp_(0, 255).sub_(128.0).div_(128.0)
