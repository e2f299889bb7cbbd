"""DINOv2 and CLIP image encoders: architecture from timm / open_clip, our preprocessing and weights.

The architectures are the libraries' own (imported lazily: ``pip install "gan-eval[features]"``):

- DINOv2 ViT-L/14 and ViT-B/14: timm's ``vit_large_patch14_dinov2`` / ``vit_base_patch14_dinov2``
  built for 224 x 224 inputs. dgm-eval (Stein et al. 2023, github.com/layer6ai-labs/dgm-eval,
  ``dgm_eval/models/dinov2.py``) loads the same network through ``torch.hub.load(
  'facebookresearch/dinov2', 'dinov2_vitl14')`` and feeds it 224 x 224 images; the hub model then
  resamples its 37 x 37 position embedding on every call with ``F.interpolate(mode="bicubic",
  antialias=False, scale_factor=((16 + 0.1) / 37,) * 2)`` (``interpolate_pos_encoding``,
  interpolate_offset 0.1). We resample once at load time in exactly that way (timm's own loader
  would resample with antialiasing and an exact size, a different embedding). The output is the
  hub model's ``forward``: the CLS token after the final LayerNorm (timm: ``global_pool="token"``,
  no head). Preprocessing, dgm-eval's default (``clean_resize=False``): torchvision
  ``Resize((224, 224), BICUBIC)`` of the PIL image (PIL's antialiased bicubic), ``ToTensor``,
  ``Normalize`` with ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225); no crop.
- CLIP ViT-B/32 (OpenAI's weights): open_clip's ``ViT-B-32-quickgelu``; the features are
  ``encode_image`` (the projected 512-d image embedding, not L2-normalised). Preprocessing is
  open_clip's ``create_model_and_transforms`` one for these weights (OpenAI CLIP's): ``Resize(224,
  BICUBIC)`` of the shorter side, ``CenterCrop(224)``, ``ToTensor``, ``Normalize`` with CLIP's mean
  (0.48145466, 0.4578275, 0.40821073) and std (0.26862954, 0.26130258, 0.27577711).

Every preprocessing function takes one uint8 H x W x 3 RGB numpy image and returns a float32
3 x 224 x 224 tensor; the networks take a batch of those.
"""

import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..cachedir import cache_dir
from ..errors import GanEvalError, WeightsError
from . import spaces

SIZE = 224
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
TIMM_ARCH = {"dinov2-vitl14": "vit_large_patch14_dinov2", "dinov2-vitb14": "vit_base_patch14_dinov2"}
OPEN_CLIP_ARCH = {"clip-vitb32": "ViT-B-32-quickgelu"}
DINOV2_GRID = 37  # the published checkpoints' position grid (518 / 14)
POS_OFFSET = 0.1  # facebookresearch/dinov2 interpolate_offset


def _require(module, package):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise GanEvalError(f"this feature space needs the {package} package: pip install \"gan-eval[features]\" "
                           f"(or pip install {package})") from None


# --- preprocessing (one uint8 H x W x 3 image -> float32 3 x 224 x 224) ---------------------------

def _pil(img):
    return Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8), mode="RGB")


def dinov2(img):
    """dgm-eval's DINOv2 transform: bicubic resize to 224 x 224, ToTensor, ImageNet normalisation."""
    import torchvision.transforms.functional as TF

    x = TF.to_tensor(TF.resize(_pil(img), [SIZE, SIZE], interpolation=TF.InterpolationMode.BICUBIC))
    return TF.normalize(x, IMAGENET_MEAN, IMAGENET_STD)


def clip(img):
    """OpenAI CLIP's transform: shorter side to 224 (bicubic), centre crop, ToTensor, CLIP normalisation."""
    import torchvision.transforms.functional as TF

    x = TF.center_crop(TF.resize(_pil(img), SIZE, interpolation=TF.InterpolationMode.BICUBIC), [SIZE, SIZE])
    return TF.normalize(TF.to_tensor(x), CLIP_MEAN, CLIP_STD)


PREPROCESS = {"dinov2-vitl14": dinov2, "dinov2-vitb14": dinov2, "clip-vitb32": clip}


# --- networks -----------------------------------------------------------------------------------

class Encoder(torch.nn.Module):
    """An image encoder behind the interface of FIDInceptionV3: ``forward(x, outputs=("pool3",))``
    returns ``{"pool3": N x dims features}`` ("pool3" names the feature output in every space)."""

    has_logits = False

    def __init__(self, net, space):
        super().__init__()
        self.net, self.space = net, space

    def forward(self, x, outputs=("pool3",)):
        return {"pool3": self.net(x)}


def build(name):
    """The architecture of feature space `name` with untrained weights (no download)."""
    if name in TIMM_ARCH:
        timm = _require("timm", "timm")
        # weight_init="skip": the weights are loaded next; timm's init of a ViT-L takes seconds
        net = timm.create_model(TIMM_ARCH[name], pretrained=False, img_size=SIZE, num_classes=0, weight_init="skip")
    elif name in OPEN_CLIP_ARCH:
        open_clip = _require("open_clip", "open_clip_torch")
        logger = logging.getLogger()
        level = logger.level
        logger.setLevel(logging.ERROR)  # open_clip logs that it loads no pretrained weights
        try:
            net = open_clip.create_model(OPEN_CLIP_ARCH[name], pretrained=None).visual
        finally:
            logger.setLevel(level)
    else:
        raise GanEvalError(f"no encoder for feature space {name!r}")
    return Encoder(net.eval().requires_grad_(False), name)


def resample_position_embedding(pos_embed, grid):
    """A (1, 1 + M², d) DINOv2 position embedding for a `grid` x `grid` patch grid, as
    facebookresearch/dinov2 ``interpolate_pos_encoding`` computes it (bicubic, no antialias,
    scale factor (grid + 0.1) / M); float32."""
    n = pos_embed.shape[1] - 1
    m = math.isqrt(n)
    if m * m != n:
        raise WeightsError(f"position embedding of {n} patches is not a square grid")
    if m == grid:
        return pos_embed.float()
    dim = pos_embed.shape[-1]
    pos = pos_embed.float()
    patch = pos[:, 1:].reshape(1, m, m, dim).permute(0, 3, 1, 2)
    scale = float(grid + POS_OFFSET) / m
    patch = F.interpolate(patch, mode="bicubic", antialias=False, scale_factor=(scale, scale))
    if tuple(patch.shape[-2:]) != (grid, grid):
        raise WeightsError(f"position embedding resampled to {tuple(patch.shape[-2:])}, expected {(grid, grid)}")
    return torch.cat([pos[:, :1], patch.permute(0, 2, 3, 1).reshape(1, grid * grid, dim)], dim=1)


def _dinov2_state_dict(sd, model):
    sd = {k[len("backbone."):] if k.startswith("backbone.") else k: v for k, v in sd.items()}
    sd.pop("mask_token", None)  # used in training only
    if "pos_embed" in sd:
        sd["pos_embed"] = resample_position_embedding(sd["pos_embed"], SIZE // 14)
    return sd


def _clip_state_dict(sd, model):
    sd = {k: v for k, v in sd.items() if k not in ("input_resolution", "context_length", "vocab_size")}
    if any(k.startswith("visual.") for k in sd):
        sd = {k[len("visual."):]: v for k, v in sd.items() if k.startswith("visual.")}
    return {k: v.float() for k, v in sd.items()}


def load_into(model, sd, path):
    """Load a checkpoint's state dict `sd` into `model` (an Encoder); WeightsError on any mismatch."""
    convert = _dinov2_state_dict if model.space in TIMM_ARCH else _clip_state_dict
    sd = convert(dict(sd), model)
    expected = model.net.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    bad = sorted(k for k in set(sd) & set(expected) if tuple(sd[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or bad:
        detail = "; ".join(f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                           for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", bad))
                           if keys)
        raise WeightsError(f"{path}: not {model.space} weights ({detail})")
    model.net.load_state_dict(sd, strict=True)
    return model


def read_state_dict(path):
    """Tensors of a weight file: a state dict (.pth/.pt/.bin, torch.load with weights_only), a
    .safetensors file, or a TorchScript archive (OpenAI's CLIP files)."""
    from .weights import _is_torchscript, load_tensors

    path = Path(path)
    if path.suffix == ".safetensors":
        st = _require("safetensors.torch", "safetensors")
        try:
            return st.load_file(str(path))
        except Exception as e:
            raise WeightsError(f"{path}: not a readable .safetensors file ({str(e).splitlines()[0]})") from None
    if _is_torchscript(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
            except Exception as e:
                raise WeightsError(f"{path}: cannot load TorchScript file ({e})") from None
    sd = load_tensors(path)
    for key in ("model", "state_dict", "teacher"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightsError(f"{path}: expected a state dict of tensors")
    return sd


# --- weights: resolution, download, loading ----------------------------------------------------

@dataclass(frozen=True)
class LoadedEncoder:
    """A loaded encoder and where its weights came from (the counterpart of weights.LoadedWeights)."""

    model: Encoder
    path: str
    sha256: str
    format: str
    reference: bool  # the file has the published SHA-256
    features: str  # feature-space name

    @property
    def has_logits(self):
        return False


def _how_to_provide(space, path, reason):
    where = f" from {space.urls[0]}" if space.urls else ""
    digest = f" (SHA-256 {space.sha256})" if space.sha256 else ""
    return (f"{reason}. Download {space.filename}{where}{digest} and put it at {path}, or pass --weights FILE "
            f"(Python: weights=FILE) or set {space.env_var}=FILE")


def resolve(name, weights=None, download=True):
    """Path of the weight file of feature space `name`: `weights`, then $GAN_EVAL_<NAME>_WEIGHTS,
    then the cache (``cache_dir()/weights/<filename>``), then a download verified against the
    space's SHA-256 (a space without one is never downloaded). Raises WeightsError naming the URL,
    the SHA-256 and the cache path when there is no file and the download fails or is off."""
    from .weights import download_weights

    space = spaces.get(name)
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
        return path
    env = os.environ.get(space.env_var)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise WeightsError(f"{space.env_var} points to a missing file: {path}")
        return path
    path = cache_dir() / "weights" / space.filename
    if path.is_file():
        return path
    if not download:
        raise WeightsError(_how_to_provide(space, path, "no weights file found"))
    if not space.sha256:
        raise WeightsError(_how_to_provide(
            space, path, f"no {space.name} weights found, and none are downloaded: there is no SHA-256 to verify "
                         "a download against"))
    return download_weights(path, space.urls, space.sha256,
                            how_to_provide=lambda dest, reason: _how_to_provide(space, dest, reason))


_LOADED = {}


def load(name, weights=None, download=True, quiet=False):
    """Resolve, read and load the weights of feature space `name` into its encoder (eval mode,
    cached per file). Returns a LoadedEncoder."""
    from .weights import sha256_of

    space = spaces.get(name)
    if isinstance(weights, LoadedEncoder):
        if weights.features != space.name:
            raise GanEvalError(f"weights loaded for {weights.features}, not {space.name}")
        return weights
    path = resolve(space.name, weights, download)
    stat = path.stat()
    key = (space.name, str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _LOADED:
        return _LOADED[key]
    digest = sha256_of(path)
    sd = read_state_dict(path)
    model = load_into(build(space.name), sd, path)
    reference = bool(space.sha256) and digest == space.sha256
    if space.sha256 and not reference and not quiet:
        warnings.warn(f"{path.name} (sha256 {digest[:12]}...) is not the published {space.filename}: the network "
                      "loads, but its scores are not comparable to published ones", stacklevel=2)
    from .weights import _is_torchscript

    fmt = "safetensors" if path.suffix == ".safetensors" else "torchscript" if _is_torchscript(path) else "state_dict"
    loaded = LoadedEncoder(model, str(path), digest, fmt, reference, space.name)
    _LOADED.clear()
    _LOADED[key] = loaded
    return loaded


def random_state_dict(name, seed=0):
    """Seeded random weights for feature space `name` in the published checkpoint's layout (for
    DINOv2 Meta's keys with the 37 x 37 position grid, so loading resamples it), for tests.

    Matrices are N(0, 1/fan_in), norms' scales 1 + N(0, 0.1²), layer scales U(0.5, 1) (the
    libraries' init of 1e-5 would hide the blocks), position embeddings N(0, 0.5²).
    """
    gen = torch.Generator().manual_seed(seed)
    shapes = {k: tuple(v.shape) for k, v in build(name).net.state_dict().items()}
    if name in TIMM_ARCH:
        shapes["pos_embed"] = (1, 1 + DINOV2_GRID ** 2, shapes["pos_embed"][-1])
        shapes["mask_token"] = (1, shapes["cls_token"][-1])
    sd = {}
    for k, shape in shapes.items():
        leaf = k.rsplit(".", 1)[-1]
        if leaf == "gamma":
            v = torch.rand(shape, generator=gen) * 0.5 + 0.5
        elif "pos" in k or "positional" in k:
            v = torch.randn(shape, generator=gen) * 0.5
        elif len(shape) >= 2 and k not in ("cls_token", "mask_token"):
            fan_in = shape[0] if k.endswith("proj") and len(shape) == 2 and "visual" not in k and \
                name in OPEN_CLIP_ARCH else int(np.prod(shape[1:]))
            v = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
        elif "norm" in k or k.startswith("ln_") or ".ln_" in k:
            v = (1.0 if leaf == "weight" else 0.0) + torch.randn(shape, generator=gen) * 0.1
        else:
            v = torch.randn(shape, generator=gen) * 0.02
        sd[k] = v
    if name in OPEN_CLIP_ARCH:
        sd["proj"] = torch.randn(shapes["proj"], generator=gen) / math.sqrt(shapes["proj"][0])
        sd = {"visual." + k: v for k, v in sd.items()}
    return sd


def save_random_weights(name, path, seed=0):
    torch.save(random_state_dict(name, seed), path)
    return path
