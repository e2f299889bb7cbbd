"""Options and output helpers shared by the CLI commands (no math here)."""

import json
import sys

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


def seed_option(f, default=defaults.SEED):
    return click.option("--seed", type=int, default=default, show_default=True, help="Random seed.")(f)


def emit(result, as_json, text_lines):
    """Print `result` as JSON, or the given text lines, on stdout."""
    if as_json:
        click.echo(json.dumps(result, indent=None, sort_keys=False, default=_json_default))
    else:
        for line in text_lines:
            click.echo(printable(line))


def printable(text):
    """`text` with the undecodable bytes of non-UTF-8 file names (surrogate escapes) shown as �."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


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
