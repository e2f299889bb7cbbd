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
    return click.option("--quiet", "-q", is_flag=True, help="No progress bars or warnings on stderr.")(f)


def device_option(f):
    return click.option("--device", default=None, help="torch device (cpu, cuda, cuda:1). Default: CUDA when present, else CPU.")(f)


def seed_option(f, default=defaults.SEED):
    return click.option("--seed", type=int, default=default, show_default=True, help="Random seed.")(f)


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
    if as_json:
        click.echo(json.dumps(result, indent=None, sort_keys=False, default=_json_default))
    else:
        for line in text_lines:
            click.echo(line)


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
        click.echo(f"warning: {message}", err=True)
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
