"""Argument checks shared by the metric functions: one clear GanEvalError per bad input."""

import numpy as np
import torch

from ..errors import GanEvalError


def as_float_matrix(x, name, dtype=torch.float32, min_rows=1, device=None, uint8="keep"):
    """Return `x` as a finite 2-D torch tensor of `dtype`, or raise GanEvalError naming `name`.

    `uint8` says what uint8 input means where the units matter: ``"keep"`` (the numbers as they
    are), ``"pixels"`` (8-bit pixels, divided by 255 into the [0, 1] units the image protocols use,
    as the CLI does), ``"refuse"`` (GanEvalError: points, not images).
    """
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            t = torch.as_tensor(np.asarray(x, dtype=np.float64))
        except (TypeError, ValueError) as e:
            raise GanEvalError(f"{name}: expected an array of numbers ({e})") from None
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2:
        raise GanEvalError(f"{name}: expected a 2-D array (samples x features), got shape {tuple(t.shape)}")
    if t.shape[0] < min_rows:
        raise GanEvalError(f"{name}: needs at least {min_rows} samples, got {t.shape[0]}")
    if not (t.dtype.is_floating_point or t.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)):
        raise GanEvalError(f"{name}: expected real numbers, got dtype {t.dtype}")
    if t.dtype == torch.uint8 and uint8 != "keep":
        if uint8 == "refuse":
            raise GanEvalError(f"{name}: uint8 values look like 8-bit pixels; give the points as floats in their "
                               "own units")
        t = t.to(dtype=torch.float64) / 255.0
    t = t.to(device=device if device is not None else t.device, dtype=dtype)
    if not bool(torch.isfinite(t).all()):
        raise GanEvalError(f"{name}: contains NaN or infinite values")
    return t


def same_dims(a, b, name_a, name_b):
    if a.shape[1] != b.shape[1]:
        raise GanEvalError(
            f"feature dimension mismatch: {name_a} has {a.shape[1]} features per sample, {name_b} has {b.shape[1]}"
        )


def positive_int(value, name, minimum=1):
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise GanEvalError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
