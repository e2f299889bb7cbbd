"""Device choice shared by the network and the metric code: CUDA when present, else CPU; and
whether the CPU has a bfloat16 matrix engine."""

import functools

import torch

from .errors import GanEvalError


def resolve_device(device=None):
    """The torch.device for `device` (None or "auto": CUDA when present, else CPU; else a torch device
    string such as "cpu", "cuda", "cuda:1"). Raises GanEvalError for a string torch does not know,
    for CUDA on a machine without it, and for a CUDA index the machine does not have."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise GanEvalError(f"invalid device {device!r} ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GanEvalError(f"device {device!r} asked for, but CUDA is not available")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise GanEvalError(f"device {device!r} asked for, but this machine has {torch.cuda.device_count()} CUDA "
                           f"device(s): cuda:0..cuda:{torch.cuda.device_count() - 1}")
    return dev


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            return set(next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), []))
    except OSError:  # not Linux
        return set()


@functools.cache
def cpu_has_bf16_engine():
    """True when this CPU multiplies bfloat16 matrices in hardware (Intel AMX: the amx_bf16 and
    amx_tile flags of /proc/cpuinfo) and PyTorch's oneDNN can use it; False elsewhere (AVX2 and
    AVX-512 without AMX, ARM, non-Linux), where bf16 convolutions are emulated and slower than
    float32."""
    if not {"amx_bf16", "amx_tile"} <= _cpu_flags():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
