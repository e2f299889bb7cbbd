"""Resizing of uint8 image arrays (used for DCGAN's 32 and 64 px variants)."""

import numpy as np
import torch
import torch.nn.functional as F

from gan_eval.errors import GanEvalError

CHUNK = 4096


def resize_uint8(images, size):
    """Bilinear resize of uint8 NHWC images to `size`×`size`, rounded back to uint8.

    Returns the input unchanged when it already has that size. Works in chunks so large sets
    never need a float copy of the whole array.
    """
    if isinstance(size, bool) or int(size) != size or size < 4:
        raise GanEvalError(f"image size must be an integer >= 4, got {size!r}")
    if images.shape[1] == size and images.shape[2] == size:
        return images
    out = np.empty((len(images), size, size, images.shape[3]), dtype=np.uint8)
    for start in range(0, len(images), CHUNK):
        x = torch.from_numpy(np.ascontiguousarray(images[start : start + CHUNK])).permute(0, 3, 1, 2).float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out[start : start + CHUNK] = y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out
