"""Self-checking, atomic checkpoint files and the random-number states that make a resume exact.

File layout (format 2)::

    GANEVAL-CHECKPOINT 2\n
    {"identity": {...}, "sha256": "<hex>", "size": N}\n     one line of JSON
    <N bytes: torch.save of the state dict>

The header's sha256 covers the payload, and ``identity`` names the run the state belongs to
(model, dataset and a hash of every setting that shapes the run, see ``train.run_identity``).
:func:`load_checkpoint` refuses a file whose payload does not match its checksum (a flipped bit,
a truncated copy) and, given the identity the caller expects, another run's checkpoint. The
file is replaced with :func:`gan_eval.atomic.write_atomic`, so a crash mid-write leaves the
previous checkpoint intact. The payload is tensors, numbers, strings, lists, tuples and dicts,
so it loads with ``weights_only=True``.
"""

import hashlib
import io
import json
import random
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from gan_eval.atomic import write_atomic
from gan_eval.errors import GanEvalError

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
FORMAT = 2
MAGIC = b"GANEVAL-CHECKPOINT 2\n"

atomic_write_bytes = write_atomic  # the name the rest of gan_eval_models uses


def save_checkpoint(path, state, identity):
    """Write `state` (a dict) with its checksum and the run's `identity` (a JSON-able dict)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    header = json.dumps({"identity": identity, "sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)},
                        sort_keys=True).encode()

    def write(f):
        f.write(MAGIC)
        f.write(header + b"\n")
        f.write(payload)

    write_atomic(path, write)


def read_identity(path):
    """The identity stored in a checkpoint's header (None for a checkpoint without one)."""
    return _split(Path(path), Path(path).read_bytes())[0].get("identity")


def _split(path, data):
    if not data.startswith(MAGIC):
        return {}, data  # format 1 (a bare torch.save) or a foreign file
    end = data.find(b"\n", len(MAGIC))
    try:
        header = json.loads(data[len(MAGIC):end])
        if not isinstance(header, dict) or end < 0:
            raise ValueError("not an object")
    except (ValueError, UnicodeDecodeError):
        raise GanEvalError(f"{path}: damaged checkpoint (unreadable header); resume from a good copy or train again") from None
    return header, data[end + 1:]


def load_checkpoint(path, map_location="cpu", identity=None):
    """The state dict saved in `path`, after checking its checksum and, when given, its identity.

    Raises GanEvalError for a missing, truncated, damaged (checksum mismatch) or foreign file,
    and for a checkpoint whose identity differs from `identity`. A format-1 checkpoint (no
    checksum, written before checksums existed) loads with a warning.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise GanEvalError(f"{path}: no checkpoint here") from None
    except OSError as e:
        raise GanEvalError(f"{path}: cannot read checkpoint ({e.strerror or e})") from None
    header, payload = _split(path, data)
    if header:
        if header.get("size") != len(payload) or hashlib.sha256(payload).hexdigest() != header.get("sha256"):
            raise GanEvalError(f"{path}: checksum mismatch, the checkpoint is damaged (truncated or altered); "
                               "restore a good copy or train again")
        if identity is not None and _canon(header.get("identity")) != _canon(identity):
            raise GanEvalError(f"{path}: this checkpoint belongs to another run ({_describe(header.get('identity'))}), "
                               f"not to this one ({_describe(identity)})")
    try:
        state = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise GanEvalError(f"{path}: cannot read checkpoint ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(state, dict) or state.get("format") not in (1, FORMAT):
        raise GanEvalError(f"{path}: not a gan-eval training checkpoint")
    if not header:
        warnings.warn(f"{path}: checkpoint without a checksum (format 1); it cannot be verified", stacklevel=2)
    return state


def _canon(v):
    return json.loads(json.dumps(v, sort_keys=True))


def _describe(identity):
    if not isinstance(identity, dict):
        return "no identity"
    return f"model {identity.get('model')}, dataset {identity.get('dataset')}, config {str(identity.get('config_sha256'))[:12]}"


def write_json(path, obj):
    write_atomic(path, lambda f: f.write((json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()))


def read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise GanEvalError(f"{path}: not found (is this a run folder written by `gan-eval train`?)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise GanEvalError(f"{path}: cannot read ({e})") from None


def read_run_config(run_dir, config_cls):
    """(run_dir as a Path, the saved config.json, its validated `config_cls`) of a run folder; raises
    GanEvalError when the folder or its config is missing or unreadable."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise GanEvalError(f"{run_dir}: no such run folder")
    saved = read_json(run_dir / CONFIG)
    cfg = config_cls.from_dict(saved.get("config", {}))
    cfg.validate()
    return run_dir, saved, cfg


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
