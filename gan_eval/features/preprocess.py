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
