"""Batched feature extraction: decode and resize in DataLoader workers, the network in the
main process, outputs in a deterministic order.

fp32 with TF32 off by default, so CPU and GPU agree; ``precision="tf32"`` or ``"bf16"`` trade
accuracy for speed, ``"bf16x3"`` runs the convolutions as three bf16 products at near-float32
accuracy (``fused.split_precision``), and ``"auto"`` picks per device (``resolve_precision``).
docs/precision.md has the measured speed and accuracy of each.
"""

import contextlib
import functools
import os

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .. import defaults, devices
from ..devices import resolve_device  # noqa: F401  (re-exported)
from ..errors import GanEvalError, WeightsError
from ..inputs import StatisticsInput, open_input
from . import heap, preprocess, spaces
from . import weights as weights_mod

PRECISIONS = ("fp32", "tf32", "bf16", "bf16x3")
CHOICES = PRECISIONS + ("auto",)


class _Preprocessed(Dataset):
    """(index, tensor, error message) per image, so a bad file becomes one clean message."""

    def __init__(self, source, fn, indices):
        self.source, self.fn, self.indices = source, fn, indices

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, k):
        i = int(self.indices[k])
        try:
            return i, self.fn(self.source.load(i)), None
        except GanEvalError as e:
            return i, None, str(e)


def _collate(items, channels_last=False):
    """Stack a batch; for the CPU network straight into channels-last memory, in the worker."""
    errors = [e for _, _, e in items if e is not None]
    if errors:
        return None, None, errors
    first = items[0][1]
    shape = (len(items),) + tuple(first.shape)
    fmt = torch.channels_last if channels_last and first.ndim == 3 else torch.contiguous_format
    x = torch.empty(shape, dtype=first.dtype, memory_format=fmt)
    if torch.utils.data.get_worker_info() is not None:
        # In a worker, write straight into shared memory (as default_collate does): sending a
        # batch in ordinary memory to the main process would copy it once more.
        try:
            storage = first._typed_storage()._new_shared(x.numel(), device=first.device)
            x = first.new(storage).as_strided(shape, x.stride())
        except (AttributeError, RuntimeError):
            pass
    for k, (_, t, _) in enumerate(items):
        x[k].copy_(t)
    return torch.tensor([i for i, _, _ in items]), x, None


def _worker_init(_):
    torch.set_num_threads(1)  # the network in the main process gets the cores


def auto_batch_size(device, precision="fp32"):
    """Images per batch when none is given: 50 on CPU; on CUDA what fits in half the free memory.

    A 299 x 299 image needs about 20 MB of activations at its peak in fp32 inference (half in
    bf16); the batch is capped at 512. Unmeasured on real GPUs in this project (no GPU here).
    """
    if device.type != "cuda":
        return defaults.DEFAULT_BATCH_SIZE
    free, _ = torch.cuda.mem_get_info(device)
    per_image = (10 if precision == "bf16" else 20) * 2**20
    return int(max(8, min(512, free // 2 // per_image)))


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def auto_workers(n_images, batch_size, device):
    """DataLoader workers when none are given.

    On CUDA the CPU is free while the GPU runs, so decoding and resizing overlap with it (up to
    4 workers, half the cores). On CPU, only cores that the network's threads leave idle help:
    a worker on a core the network uses preempts one of its threads, and the others then wait
    at the next barrier. On 2 cores with 2 threads, one worker made extraction 7% slower than
    decoding and resizing in the loop (README, "CPU extractor"); there the answer is 0. Under
    torchrun, each of the node's ranks counts its share of the cores.
    """
    if n_images <= 2 * batch_size:
        return 0
    cores = max(1, _cores() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))  # torchrun: per rank
    if device.type == "cpu":
        return max(0, min(4, cores - torch.get_num_threads()))
    return max(1, min(4, cores // 2))


def resolve_precision(precision, device=None, features=None):
    """The precision that `precision` names on `device`: itself, or for ``"auto"`` "bf16x3" on a
    CPU with a bf16 matrix engine (AMX; ``devices.cpu_has_bf16_engine``) and "fp32" everywhere else
    (CUDA included: the GPU path's default stays plain float32). bf16x3 exists for Inception's
    convolutions only: in another feature space (`features`) "auto" is "fp32" and "bf16x3" is
    refused. Raises GanEvalError for an unknown name."""
    if precision not in CHOICES:
        raise GanEvalError(f"unknown precision {precision!r}; choose one of: {', '.join(CHOICES)}")
    inception = spaces.get(features).name == spaces.DEFAULT
    if precision == "bf16x3" and not inception:
        raise GanEvalError(f"--precision bf16x3 applies to Inception features only; use fp32, tf32 or bf16 with "
                           f"--features {spaces.get(features).name}")
    if precision != "auto":
        return precision
    engine = inception and resolve_device(device).type == "cpu" and devices.cpu_has_bf16_engine()
    return "bf16x3" if engine else "fp32"


@contextlib.contextmanager
def _precision(precision, device):
    precision = resolve_precision(precision, device)
    if precision == "bf16x3":
        from .fused import split_precision

        with split_precision(engine=device.type == "cuda" or devices.cpu_has_bf16_engine()):
            yield
        return
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        if precision == "bf16":
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                yield
        else:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _normalise_outputs(outputs):
    names = (outputs,) if isinstance(outputs, str) else tuple(outputs)
    for n in names:
        if n not in ("pool3", "logits", "logits_unbiased"):
            raise GanEvalError(f"unknown network output {n!r}; choose from pool3, logits, logits_unbiased")
    return names


_DEVICE_MODELS = {}


def _model_on(loaded, device):
    key = (loaded.sha256, loaded.features, str(device))
    if key not in _DEVICE_MODELS:
        _DEVICE_MODELS.clear()
        if loaded.features != spaces.DEFAULT:  # a library's encoder, run as it is
            _DEVICE_MODELS[key] = loaded.model.to(device)
            return _DEVICE_MODELS[key]
        from .fused import fuse

        # An inference copy with batch norm folded (and one oneDNN call per layer on CPU): on 2 CPU
        # cores ~1.6x the images per CPU-second of the plain network; loaded.model stays as it is.
        model = fuse(loaded.model).to(device)
        if device.type == "cpu":
            model = model.to(memory_format=torch.channels_last)  # ~1.5x faster convolutions on CPU
        _DEVICE_MODELS[key] = model
    return _DEVICE_MODELS[key]


def load_network(weights=None, quiet=False, features=None):
    """The network of feature space `features` (None: Inception) with `weights` (a path, None to
    resolve, or an already loaded network): a LoadedWeights for Inception, else a vit.LoadedEncoder."""
    space = spaces.get(features if features is not None else getattr(weights, "features", None))
    if space.name != spaces.DEFAULT:
        from . import vit

        return vit.load(space.name, weights, quiet=quiet)
    if isinstance(weights, weights_mod.LoadedWeights):
        return weights
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise GanEvalError(f"weights loaded for {getattr(weights, 'features', '?')}, not {space.name}")
    return weights_mod.load(weights, quiet=quiet)


def preprocessing(features, resize):
    """``(name, per-image function)`` of the preprocessing for feature space `features`.

    Inception: the `resize` mode (``preprocess``). Other spaces have one fixed preprocessing
    (``vit``); `resize` must then be None or the default, and the name is the space's
    (e.g. ``"dinov2-vitl14"``), which the cache key and the results record.
    """
    space = spaces.get(features)
    if space.name == spaces.DEFAULT:
        return resize, preprocess.get(resize)
    if resize not in (None, defaults.DEFAULT_RESIZE):
        raise GanEvalError(f"--resize {resize} applies to Inception features; {space.name} has its own "
                           f"preprocessing ({space.preprocessing})")
    from . import vit

    return space.name, vit.PREPROCESS[space.name]


def check_outputs(loaded, outputs):
    """Raise WeightsError when `outputs` ask for logits that the loaded weights do not have."""
    if any(n.startswith("logits") for n in outputs) and loaded.features != spaces.DEFAULT:
        raise GanEvalError(f"the Inception Score needs Inception's classifier; {loaded.features} features have none")
    if any(n.startswith("logits") for n in outputs) and not loaded.has_logits:
        raise WeightsError(
            f"{loaded.path} holds Inception features only (no 1008-class classifier), so logits and the Inception "
            f"Score are unavailable; use pytorch-fid's {weights_mod.FILENAME} ({weights_mod.URLS[0]})")


def iter_features(source, weights=None, resize=defaults.DEFAULT_RESIZE, batch_size=defaults.DEFAULT_BATCH_SIZE,
                  device=None, num_workers=None, outputs=("pool3",), progress=True, precision="fp32",
                  indices=None, quiet=False, features=None):
    """Yield ``(indices, {output: float32 CPU tensor})`` batch by batch, in index order.

    `features` names the feature space (``features.spaces``; None: Inception, or the space of an
    already loaded `weights`); the ``pool3`` output holds that space's features.
    """
    names = _normalise_outputs(outputs)
    src = open_input(source)
    if isinstance(src, StatisticsInput):
        raise GanEvalError(f"{src.name}: a statistics file has no images to extract features from")
    space = spaces.get(features if features is not None else getattr(weights, "features", None))
    _, fn = preprocessing(space.name, resize)
    dev = resolve_device(device)
    precision = resolve_precision(precision, dev, space.name)
    if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) < 1):
        raise GanEvalError(f"batch size must be a positive integer, got {batch_size!r}")
    loaded = load_network(weights, quiet=quiet, features=space.name)
    check_outputs(loaded, names)
    model = _model_on(loaded, dev)
    if batch_size is None:
        batch_size = auto_batch_size(dev, precision)
    idx = np.arange(len(src)) if indices is None else np.asarray(indices)
    if num_workers is None:
        num_workers = auto_workers(len(idx), batch_size, dev)
    loader = DataLoader(
        _Preprocessed(src, fn, idx), batch_size=int(batch_size), shuffle=False, num_workers=int(num_workers),
        collate_fn=functools.partial(_collate, channels_last=dev.type == "cpu"), pin_memory=dev.type == "cuda",
        worker_init_fn=_worker_init if num_workers else None,
        persistent_workers=False, prefetch_factor=4 if num_workers else None)
    from tqdm import tqdm

    bar = tqdm(total=len(idx), desc=f"{len(src)} images found in {src.name[-40:]}", unit="img", disable=not progress, leave=False)
    try:
        with heap.kept() if dev.type == "cpu" else contextlib.nullcontext():
            yield from _run(loader, model, names, precision, dev, bar)
    finally:
        bar.close()  # also on an error, so that its message starts a line of its own


def _run(loader, model, names, precision, dev, bar):
    for batch_idx, x, errors in loader:
        if errors:
            raise GanEvalError(errors[0] + (f" (and {len(errors) - 1} more bad images)" if len(errors) > 1 else ""))
        # Only the network runs under the precision setting: with num_workers=0 the decoding and
        # resizing happen in this loop, and bf16 autocast must not round the resized images.
        with torch.inference_mode(), _precision(precision, dev):
            x = x.to(dev, non_blocking=True)
            if dev.type == "cpu":
                x = x.contiguous(memory_format=torch.channels_last)
            out = model(x, outputs=names)
            out = {k: v.float().cpu() for k, v in out.items()}
        yield batch_idx, out
        bar.update(len(batch_idx))


def extract_features(source, weights=None, resize=defaults.DEFAULT_RESIZE, batch_size=defaults.DEFAULT_BATCH_SIZE,
                     device=None, num_workers=None, outputs="pool3", progress=True, precision="fp32", quiet=False,
                     features=None):
    """Features of every image of `source` (folder, zip, .npy/.npz, array or tensor).

    `features`: the feature space (``features.spaces``: ``inception`` by default,
    ``dinov2-vitl14``, ``dinov2-vitb14``, ``clip-vitb32``). Returns a float32 numpy array
    (N x 2048 for Inception's ``outputs="pool3"``, N x dims of the space otherwise), or a dict of
    arrays when `outputs` is a list (``pool3``, and for Inception ``logits``,
    ``logits_unbiased``). See ``preprocess`` for Inception's resize modes, ``vit`` for the other
    spaces' preprocessing, and ``weights`` / ``vit.resolve`` for how the weight file is found.
    """
    names = _normalise_outputs(outputs)
    parts = {n: [] for n in names}
    for _, out in iter_features(source, weights, resize, batch_size, device, num_workers, names, progress,
                                precision, quiet=quiet, features=features):
        for n in names:
            parts[n].append(out[n].numpy())
    result = {n: np.concatenate(p) if p else np.zeros((0, 0), np.float32) for n, p in parts.items()}
    return result[outputs] if isinstance(outputs, str) else result


def features_of_batch(images, loaded, resize=defaults.DEFAULT_RESIZE, device=None, outputs=("pool3",),
                      precision="fp32"):
    """Network outputs of one in-memory batch, as the file path computes them (for streaming metrics).

    `images`: uint8 (NHWC, NCHW or NHW) or float in [0, 1] (quantised by round(255 x)), numpy or a
    tensor on any device. Quantisation and resize run batched on the images' own device
    (``preprocess.batch``, the per-image functions' numbers to float32 summation order), so CUDA
    images never visit the host; the network runs on `device` (autocast of the caller switched
    off). Returns ``{output: float32 tensor on device}``.
    """
    from ..inputs import ArraySource

    names = _normalise_outputs(outputs)
    check_outputs(loaded, names)
    _, fn = preprocessing(loaded.features, resize)
    if loaded.features == spaces.DEFAULT:
        if isinstance(images, ArraySource):
            images = images.array
    else:  # the other spaces' fixed preprocessing runs image by image (PIL, as their reference code)
        if isinstance(images, torch.Tensor) and images.dtype in (torch.float16, torch.bfloat16):
            images = images.float()  # numpy has no bfloat16, and float16 arithmetic would misround 255 x
        src = images if isinstance(images, ArraySource) else ArraySource(images, name="images")
        images = torch.stack([fn(src.load(i)) for i in range(len(src))])
    dev = resolve_device(device)
    model = _model_on(loaded, dev)
    with torch.no_grad(), torch.autocast(dev.type, enabled=False):
        x = (preprocess.batch(images, resize) if loaded.features == spaces.DEFAULT else images).to(dev)
    with torch.no_grad(), torch.autocast(dev.type, enabled=False), _precision(precision, dev):
        if dev.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        out = model(x, outputs=names)
    return {k: v.float() for k, v in out.items()}
