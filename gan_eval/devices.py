"""Device choice shared by the network and the metric code: CUDA when present, else CPU."""

import torch

from .errors import GanEvalError


def resolve_device(device=None):
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise GanEvalError(f"invalid device {device!r} ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GanEvalError(f"device {device!r} asked for, but CUDA is not available")
    return dev
