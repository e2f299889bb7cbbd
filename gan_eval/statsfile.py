"""Writing statistics files: pytorch-fid's .npz (``mu``, ``sigma``) plus ``n`` and the provenance.

pytorch-fid and the TTUR code read ``mu`` and ``sigma`` and ignore the rest, so the files stay
interchangeable; gan-eval reads ``provenance`` back and refuses to mix settings (see
``gan_eval.provenance``).
"""

from pathlib import Path

import numpy as np

from .atomic import write_atomic
from .errors import GanEvalError
from .provenance import KEY


def statistics_path(path):
    """The name a statistics file is written under: `path` with ``.npz`` appended unless it ends in
    ``.npz`` (as ``numpy.savez`` and so pytorch-fid do), so whatever is written reads back as statistics."""
    path = Path(path)
    return path if path.suffix.lower() == ".npz" else path.with_name(path.name + ".npz")


def save_statistics(path, mu, sigma, n, provenance):
    """Write ``mu`` (d), ``sigma`` (d x d) float64, ``n`` and `provenance` atomically; returns the path written."""
    path = statistics_path(path)
    if path.is_dir():
        raise GanEvalError(f"{path}: is a folder; give a file name for the statistics")
    arrays = {"mu": np.asarray(mu, np.float64), "sigma": np.asarray(sigma, np.float64), "n": np.int64(n),
              KEY: np.array(provenance.to_json())}
    try:
        path.resolve().parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda f: np.savez(f, **arrays))
    except OSError as e:  # read-only, full, or a folder in the way: nothing half-written is left
        raise GanEvalError(f"{path}: cannot write the statistics ({e.strerror or e})") from None
    return path
