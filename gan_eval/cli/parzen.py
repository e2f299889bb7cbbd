"""`gan-eval parzen`: the Parzen-window log-likelihood protocol of the 2014 GAN paper."""

from pathlib import Path

import click
from click.core import ParameterSource
import numpy as np

from .. import defaults
from ..errors import GanEvalError
from .common import count, device_option, emit, json_option, quiet_option, warn


def _array_file(path):
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False)
        with np.load(path, allow_pickle=False) as data:
            from ..inputs import ARRAY_KEYS

            keys = [k for k in ARRAY_KEYS if k in data.files] or (data.files if len(data.files) == 1 else [])
            if not keys:
                raise GanEvalError(f"{path}: expected one array (keys {', '.join(ARRAY_KEYS)}), found: {', '.join(data.files) or 'nothing'}")
            return data[keys[0]]
    except (OSError, ValueError) as e:
        raise GanEvalError(f"{path}: cannot read array file ({e})") from None


def load_unit_rows(spec, data_dir=None, limit=None, quiet=False):
    """Rows of pixels in [0, 1] (float64, n x d) from a path or a dataset name (``mnist-test``,
    the protocol's ``mnist:train`` = ``mnist-train[:50000]``, ``mnist:validation``, ...).

    uint8 images (folders, zip, .npy/.npz, idx files) are divided by 255; RGB images whose three
    channels are equal (grayscale saved as RGB) keep one channel. Float arrays are used as they
    are. Only the first `limit` rows are read into memory as floats.
    """
    from ..datasets import parse_name
    from ..idx import is_idx, read_idx
    from ..inputs import load_images, open_input

    path = Path(spec)
    if not path.exists() and parse_name(spec) is not None:
        arr = open_input(spec, data_dir).array  # uint8 N x 28 x 28 (MNIST) or N x 32 x 32 x 3
    elif not path.exists():
        raise GanEvalError(f"{spec}: no such file or folder")
    elif path.is_file() and is_idx(path):
        arr = read_idx(path)
    elif path.is_file() and path.suffix.lower() in (".npy", ".npz"):
        arr = _array_file(path)
        if not np.issubdtype(arr.dtype, np.floating):
            arr = load_images(path)
    else:
        arr = load_images(path)
    if arr.ndim < 2 or arr.shape[0] == 0:
        raise GanEvalError(f"{spec}: expected an array of samples (n x ...), got shape {arr.shape}")
    arr = arr[:limit] if limit is not None else arr
    if arr.dtype == np.uint8:
        if arr.ndim == 4 and arr.shape[-1] == 3 and (arr[..., :1] == arr[..., 1:]).all():
            arr = arr[..., 0]
        return arr.reshape(arr.shape[0], -1) / 255.0
    if not np.issubdtype(arr.dtype, np.floating):
        raise GanEvalError(f"{spec}: expected uint8 images or floats in [0, 1], got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64).reshape(arr.shape[0], -1)
    if not np.isfinite(arr).all():
        raise GanEvalError(f"{spec}: contains NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0 or hi > 1:
        warn(f"{spec}: float values span [{lo:.3g}, {hi:.3g}], not [0, 1]: the protocol scales pixels to [0, 1]", quiet)
    return arr


def _parse_sigmas(text):
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GanEvalError(f"--sigmas: expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise GanEvalError("--sigmas: give at least one bandwidth")
    return values


@click.command()
@click.argument("samples")
@click.argument("test")
@click.option("--validation", "validation", default=None,
              help="Validation images to choose sigma on (the paper: mnist:validation, MNIST train[50000:60000]).")
@click.option("--sigmas", default=None,
              help="Comma-separated sigma grid. Default: numpy.logspace(-1, 0, 10), as in the paper's code.")
@click.option("--sigma", type=float, default=None, help="Use this sigma; no validation needed.")
@click.option("--n-centres", type=count(), default=defaults.PARZEN_N_CENTRES, show_default=True,
              help="Generated samples used as kernel centres (the first N).")
@click.option("--n-validation", type=count(), default=defaults.PARZEN_N_VALIDATION, show_default=True,
              help="Validation images used to choose sigma (the first N).")
@click.option("--n-test", type=count(), default=None, help="Test images to score (the first N). Default: all.")
@click.option("--batch-size", type=count(), default=None,
              help="Test rows per block of distances. Default: about 64 MiB of distances per block.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder with the dataset files for dataset names (mnist-test, mnist:validation, ...). "
                   "Default: $GAN_EVAL_DATA, then the download cache.")
@device_option
@json_option
@quiet_option
def parzen(samples, test, validation, sigmas, sigma, n_centres, n_validation, n_test, batch_size, data_dir, device,
           as_json, quiet):
    """Parzen-window log-likelihood of TEST under a Gaussian kernel density on SAMPLES.

    The protocol of Goodfellow et al. 2014 (Table 1): the first 10,000 SAMPLES are the kernel
    centres, sigma is chosen on the first 1,000 --validation images, and the mean log-likelihood
    of TEST (nats) is printed with its standard error. Pixels are scaled to [0, 1].

    SAMPLES, TEST and --validation are each a folder / .zip / .npy / .npz of uint8 images, a
    .npy / .npz of floats already in [0, 1], an MNIST idx file, or a dataset name: mnist-train,
    mnist-test (with an optional slice such as mnist-train[:10000]) and the protocol's
    mnist:train (mnist-train[:50000]), mnist:validation (mnist-train[50000:]), mnist:test, read
    from --data-dir, $GAN_EVAL_DATA, or the download cache.

    \b
    Example:
      gan-eval parzen samples.npz mnist:test --validation mnist:validation --data-dir data/mnist
    """
    from ..metrics.parzen import parzen_protocol

    grid = _parse_sigmas(sigmas) if sigmas is not None else defaults.PARZEN_SIGMAS
    if sigma is None and validation is None:
        raise GanEvalError("--validation is needed to choose sigma (or give a fixed --sigma)")
    centres = load_unit_rows(samples, data_dir, n_centres, quiet)
    default_centres = click.get_current_context().get_parameter_source("n_centres") == ParameterSource.DEFAULT
    if sigma is not None and default_centres and len(centres) < n_centres:  # an explicit --n-centres stays strict
        warn(f"{samples}: {len(centres)} samples, fewer than the {n_centres:,} kernel centres of the protocol "
             f"(Goodfellow et al. 2014); proceeding with the fixed --sigma {sigma:g} on {len(centres)} centres, so the "
             "number is not comparable to published ones", quiet)
        n_centres = len(centres)
    test_rows = load_unit_rows(test, data_dir, n_test, quiet)
    val_rows = load_unit_rows(validation, data_dir, n_validation, quiet) if sigma is None else None
    r = parzen_protocol(centres, val_rows, test_rows, sigmas=grid, sigma=sigma, n_centres=n_centres,
                        n_validation=n_validation, n_test=n_test, chunk_size=batch_size, device=device)
    emit(r, as_json, [f"Parzen LL: {r['mean']:.2f} ± {r['sem']:.2f} (sigma={r['sigma']:.4g})"])
