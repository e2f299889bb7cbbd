"""Samples from a trained run: ``sample(run_dir, n)`` or ``gan-eval sample RUN_DIR -n N -o OUT``.

Images come back as uint8 NHWC (C = 1 for MNIST, 3 for CIFAR-10 / Stacked MNIST), the layout
``gan_eval.inputs.load_images`` reads; 2-D data as float64 (n, 2). Latents (and, for AC-GAN,
class labels drawn uniformly) come from a CPU ``torch.Generator`` seeded with `seed`, and the
generator runs in eval mode (batch-norm running statistics), so a sample depends on neither
the batch size nor the device beyond floating-point rounding; the same call repeats exactly. A
run trained with ``sample_bn="batch"`` samples in batch mode instead (batch norm over each batch
of its training batch size, Metz et al.'s sampler): `batch_size` is then that size.
"""

import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from gan_eval.atomic import create, current_umask
from gan_eval.devices import resolve_device
from gan_eval.errors import GanEvalError

from . import checkpoint as ckpt
from .models import build_models
from .monitor import generate, sampling_options, to_uint8
from .train import TrainConfig, run_identity

DEFAULT_BATCH_SIZE = 500


def load_generator(run_dir, device=None, average=True):
    """(generator in eval mode, TrainConfig) of the run in `run_dir`, from its latest checkpoint.

    average: the moving average of G's weights when the run kept one (``ema``); False: the raw G.
    """
    run_dir, saved, cfg = ckpt.read_run_config(run_dir, TrainConfig)
    hp = saved.get("resolved") or cfg.resolved()
    dev = resolve_device(device)
    state = ckpt.load_checkpoint(run_dir / ckpt.CHECKPOINT, map_location="cpu", identity=run_identity(cfg, hp))
    G, _ = build_models(cfg.model, cfg.spec(), hp["latent_dim"], hp["latent"], hp["width"], cfg.pack, cfg.minibatch_disc)
    try:
        # the moving average of G's weights when the run kept one (TrainConfig.ema)
        G.load_state_dict((average and state.get("generator_ema")) or state["generator"])
    except RuntimeError as e:
        raise GanEvalError(f"{run_dir}: checkpoint does not match its config.json ({e})") from None
    return G.to(dev).eval(), cfg


def sample(run_dir, n, seed=0, truncation=None, device=None, batch_size=DEFAULT_BATCH_SIZE, labels=None, average=True):
    """Draw `n` samples from the run in `run_dir`.

    truncation: ψ > 0 resamples latent components with |z| > ψ (see :mod:`models.latent`).
    labels: class of each sample for class-conditional models (AC-GAN); default uniform.
    average: sample from the moving average of G's weights when the run kept one (default).
    Returns uint8 (n, H, W, C) for image datasets, float64 (n, 2) for 2-D data.
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise GanEvalError(f"n must be a positive integer, got {n!r}")
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise GanEvalError(f"batch_size must be a positive integer, got {batch_size!r}")
    G, cfg = load_generator(run_dir, device, average)
    _check_fits(int(n), cfg.spec()["shape"])
    if labels is not None:
        if not G.n_classes:
            raise GanEvalError(f"{cfg.model} is not class-conditional; labels do not apply")
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        if labels.shape != (n,) or labels.min() < 0 or labels.max() >= G.n_classes:
            raise GanEvalError(f"labels must be {n} integers in 0..{G.n_classes - 1}")
    gen = torch.Generator().manual_seed(int(seed))
    options = {"batch_size": int(batch_size), **sampling_options(cfg, cfg.resolved())}
    x = generate(G, int(n), gen, next(G.parameters()).device, truncation, labels, **options)
    if G.output_range is None:
        return x.double().numpy()
    return to_uint8(x, G.output_range)


def _check_fits(n, shape):
    """Refuse an `n` whose samples (float32 while generated, then the result) exceed the memory."""
    need = n * int(np.prod(shape)) * (4 + 8)  # float32 outputs, then uint8 / float64 results
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > have:
        raise GanEvalError(f"n = {n} samples of shape {tuple(shape)} need about {need / 2**30:.1f} GiB, more than "
                           f"this machine's {have / 2**30:.1f} GiB of memory; draw them in several calls with other seeds")


def write_samples(samples, out, fmt=None, overwrite=False):
    """Write samples as a folder of PNGs (000000.png, …) or an .npz; returns (path, format).

    The .npz holds ``images`` (uint8 NHWC) or, for 2-D data, ``samples`` (float64 (n, 2)).
    `fmt` defaults to npz when `out` ends in .npz, else png. 2-D samples can only be .npz.
    An existing file or non-empty folder is refused unless `overwrite`; with it, the new draw
    replaces the old one whole (a folder holding files other than sample PNGs is refused).
    Files are written beside the target and renamed into place, so a failure (a full disk)
    leaves the old output as it was and nothing half-written; it raises GanEvalError.
    """
    out = Path(out)
    fmt = fmt or ("npz" if out.suffix.lower() == ".npz" else "png")
    if fmt not in ("png", "npz"):
        raise GanEvalError(f"format must be png or npz, got {fmt!r}")
    points = samples.dtype != np.uint8
    if points and fmt == "png":
        raise GanEvalError("2-D samples can only be written as .npz (use --format npz or an OUT ending in .npz)")
    if fmt == "npz":
        if out.suffix.lower() != ".npz":
            out = out.with_name(out.name + ".npz")
        if out.exists() and not overwrite:
            raise GanEvalError(f"{out} exists; pass --overwrite to replace it")
        if out.is_dir():
            raise GanEvalError(f"{out} is a folder; choose a file name for the .npz")
        key = "samples" if points else "images"
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            ckpt.atomic_write_bytes(out, lambda f: np.savez(f, **{key: samples}))
        except OSError as e:
            raise GanEvalError(f"{out}: cannot write the samples ({e.strerror or e})") from None
        return out, fmt
    if out.exists():
        if not out.is_dir():
            raise GanEvalError(f"{out} exists and is not a folder")
        old = sorted(p.name for p in out.iterdir())
        if old and not overwrite:
            raise GanEvalError(f"{out} exists and is not an empty folder; pass --overwrite or choose a new folder")
        foreign = [name for name in old if not _SAMPLE_NAME.fullmatch(name)]
        if foreign:
            raise GanEvalError(f"{out} holds files that are not samples ({', '.join(foreign[:3])}"
                               f"{', …' if len(foreign) > 3 else ''}); --overwrite replaces only a folder of samples")
    try:
        _write_png_folder(samples, out)
    except OSError as e:
        raise GanEvalError(f"{out}: cannot write the samples ({e.strerror or e}); nothing was changed") from None
    return out, fmt


_SAMPLE_NAME = re.compile(r"\d{6,}\.png")


def _write_png_folder(samples, out):
    """Write the PNGs into a new folder beside `out`, then swap it in for `out`."""
    from PIL import Image

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    old = None
    try:
        digits = max(6, len(str(len(samples) - 1)))
        for i, im in enumerate(samples):
            with create(tmp / f"{i:0{digits}d}.png") as f:
                Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im).save(f, format="PNG")
        if out.exists():
            old = out.with_name(tmp.name + ".old")
            os.rename(out, old)
        os.rename(tmp, out)
        os.chmod(out, 0o777 & ~current_umask())
    except BaseException:
        if old is not None and not out.exists():
            os.rename(old, out)  # put the previous draw back
            old = None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
