"""Replace a file all at once: write a temporary file beside it, fsync, then ``os.replace``.

A crash, a kill or a full disk mid-write leaves the old file (or none) and at most a temporary
``.<name>.*.tmp`` beside it, never a half-written file under the real name. Every file gan-eval
rewrites (cache entries, statistics, checkpoints, run configs, HYPE schedules, samples) goes
through :func:`write_atomic`.
"""

import os
import tempfile
from pathlib import Path

TMP_SUFFIX = ".tmp"
_fdopen = os.fdopen  # one name for every write, so fault tests can simulate a full disk here


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def create(path):
    """A new binary file at `path` (refused if it exists), opened for writing; for files inside a
    temporary folder that is renamed into place as a whole."""
    return _fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb")


def write_atomic(path, write):
    """Call ``write(binary_file)`` on a temporary file beside `path`, then rename it to `path`.

    Raises OSError (e.g. ENOSPC, EACCES, EROFS) with the temporary file removed and `path`
    untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600 files; give the usual permissions
        with _fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic_text(path, text):
    """:func:`write_atomic` for a UTF-8 string."""
    data = text.encode("utf-8")
    write_atomic(path, lambda f: f.write(data))
