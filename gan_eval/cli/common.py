"""Options and output helpers shared by the CLI commands (no math here)."""

import contextlib
import json
import os
import sys
from pathlib import Path

import click

from .. import defaults


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout instead of text.")(f)


def quiet_option(f):
    return click.option("--quiet", "-q", is_flag=True, callback=_silence,
                        help="No progress bars or warnings on stderr (ours or the libraries').")(f)


def _silence(ctx, param, quiet):
    """-q: drop every Python warning and library log record below ERROR for this command
    (``main`` restores the filters afterwards)."""
    if quiet:
        import logging
        import warnings

        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
    return quiet


def device_option(f):
    return click.option("--device", default=None, help="torch device (cpu, cuda, cuda:1). Default: CUDA when present, else CPU.")(f)


# Integer options are bounded so that no value reaches an overflow deep inside numpy or torch:
# counts and batch sizes fit a C int, seeds what every generator we seed accepts.
MAX_COUNT = 2**31 - 1
SEED = click.IntRange(0, 2**32 - 1)


def count(minimum=1):
    """A click type for a count or size option: an integer in [minimum, MAX_COUNT]."""
    return click.IntRange(minimum, MAX_COUNT)


def seed_option(f, default=defaults.SEED):
    return click.option("--seed", type=SEED, default=default, show_default=True, help="Random seed.")(f)


def data_dir_option(f, help="Folder with the dataset files for dataset names such as mnist-test or "
                    "cifar10-train[:10000]. Default: $GAN_EVAL_DATA, then the download cache."):
    return click.option("--data-dir", type=click.Path(file_okay=False), default=None, help=help)(f)


def named_input(path, data_dir):
    """A dataset name (mnist-test, cifar10-train[:1000], ...) opened from `data_dir`; anything else
    unchanged, for the library to open."""
    import os

    from ..datasets import parse_name

    if isinstance(path, str) and not os.path.exists(path) and parse_name(path) is not None:
        from ..inputs import open_input

        return open_input(path, data_dir)
    return path


def emit(result, as_json, text_lines):
    """Print `result` as JSON, or the given text lines, on stdout."""
    bad = _non_finite(result)
    if bad:  # never a NaN or an infinity with exit 0, nor bare NaN/Infinity in JSON
        from ..errors import GanEvalError

        raise GanEvalError(f"the result is not a finite number ({bad}); nothing printed")
    if as_json:
        click.echo(json.dumps(result, indent=None, sort_keys=False, default=_json_default, allow_nan=False))
    else:
        for line in text_lines:
            click.echo(printable(line))


def printable(text):
    """`text` with the undecodable bytes of non-UTF-8 file names (surrogate escapes) shown as �."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _non_finite(obj, where="result"):
    """'key = value' of the first NaN or infinity inside `obj` (dicts, lists, numbers, arrays), or None."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return next((b for k, v in obj.items() if (b := _non_finite(v, str(k)))), None)
    if isinstance(obj, (list, tuple)):
        return next((b for v in obj if (b := _non_finite(v, where))), None)
    if isinstance(obj, (np.ndarray, np.generic)) and np.issubdtype(obj.dtype, np.floating):
        flat = np.asarray(obj).ravel()
        bad = flat[~np.isfinite(flat)]
        return f"{where} = {bad[0]}" if bad.size else None
    if isinstance(obj, float) and not math.isfinite(obj):
        return f"{where} = {obj}"
    return None


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    return str(o)


def warn(message, quiet=False):
    if not quiet:
        click.echo(printable(f"warning: {message}"), err=True)
        sys.stderr.flush()


@contextlib.contextmanager
def removing_if_left_empty(folder):
    """Remove `folder` again when the block fails and leaves it created and empty (a failed
    train/reproduce must not leave an empty --out behind)."""
    existed = folder is None or Path(folder).exists()
    try:
        yield
    except BaseException:
        if not existed:
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only when empty
        raise
