"""Atomic checkpoint files and the random-number states that make a resume exact.

A checkpoint is written to a temporary file in the run folder and moved over the old one with
``os.replace``, so a crash mid-write leaves the previous checkpoint intact. Everything in it is
tensors, numbers, strings, lists, tuples and dicts, so it loads with ``weights_only=True``.
"""

import json
import os
import random
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from gan_eval.errors import GanEvalError

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
FORMAT = 1


def atomic_write_bytes(path, write):
    """Call `write(file_object)` on a temporary file beside `path`, then rename it to `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_checkpoint(path, state):
    atomic_write_bytes(path, lambda f: torch.save(state, f))


def load_checkpoint(path, map_location="cpu"):
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise GanEvalError(f"{path}: no checkpoint here") from None
    except Exception as e:  # a truncated or foreign file
        raise GanEvalError(f"{path}: cannot read checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise GanEvalError(f"{path}: not a gan-eval training checkpoint")
    return state


def write_json(path, obj):
    atomic_write_bytes(path, lambda f: f.write((json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()))


def read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise GanEvalError(f"{path}: not found (is this a run folder written by `gan-eval train`?)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise GanEvalError(f"{path}: cannot read ({e})") from None


def global_rng_state(device):
    state = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state_out(np.random.get_state()),
        "python": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_global_rng_state(state, device):
    torch.set_rng_state(state["torch"])
    np.random.set_state(_numpy_state_in(state["numpy"]))
    random.setstate(_tuples(state["python"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _numpy_state_out(s):
    return [s[0], torch.from_numpy(s[1].astype(np.int64)), int(s[2]), int(s[3]), float(s[4])]


def _numpy_state_in(s):
    return (s[0], s[1].numpy().astype(np.uint32), s[2], s[3], s[4])


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


@contextmanager
def rng_scope(seed, device):
    """Seed torch, numpy and python's global generators for the duration; restore the caller's after.

    Global state is needed because dropout and weight initialisation draw from torch's global
    generator. (The CPU kernels the models use are deterministic, which the resume test checks
    bit for bit; ``torch.use_deterministic_algorithms`` is left alone: it changes nothing for
    them and costs a multi-second import.)
    """
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
