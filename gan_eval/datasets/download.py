"""Download a data file into a cache folder, checked against a published hash.

The file is streamed to a temporary name in the destination folder, hashed on the way, and
renamed into place (``os.replace``) only when the hash matches, so an interrupted or corrupt
download never leaves a file under the final name. Mirrors are tried in order.
"""

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from gan_eval.errors import GanEvalError

CHUNK = 1 << 20
TIMEOUT_S = 30


def default_cache_dir():
    """``$GAN_EVAL_CACHE/data`` (default ``~/.cache/gan_eval/data``): where datasets are downloaded
    when no folder is given."""
    from ..cachedir import cache_dir

    return cache_dir() / "data"


def dataset_folder(data_dir, env, label, cache_name):
    """(folder, whether it may be downloaded into) for a dataset: `data_dir`, else env `env`, else
    the download cache ``default_cache_dir() / cache_name``. A folder given but missing is an error."""
    given = data_dir if data_dir is not None else os.environ.get(env) or None
    if given is None:
        return default_cache_dir() / cache_name, True
    folder = Path(given).expanduser()
    if not folder.is_dir():
        source = "data_dir" if data_dir is not None else f"env {env}"
        raise GanEvalError(f"{label} folder {folder} (from {source}) does not exist")
    return folder, False


def file_hash(path, algorithm="md5"):
    """Hex digest of a file's bytes (md5 or sha256)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def check_hash(path, md5=None, sha256=None):
    """Raise GanEvalError naming `path` when its md5/sha256 differs from the expected one."""
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is not None:
            got = file_hash(path, algorithm)
            if got != expected.lower():
                raise GanEvalError(
                    f"{path}: {algorithm} is {got}, expected {expected} (corrupt or a different file; "
                    "delete it and download it again)"
                )


def download(filename, urls, dest_dir, md5=None, sha256=None, quiet=False):
    """Fetch `filename` into `dest_dir` from the first of `urls` that serves the right bytes.

    Returns the final path. An existing file with the right hash is kept without a download.
    Every URL is tried in order; a wrong hash counts as a failure of that mirror. When all fail
    (offline, say) a GanEvalError lists the mirrors and tells where to put the file by hand.
    """
    if md5 is None and sha256 is None:
        raise ValueError("download() needs an md5 or a sha256 to check the file against")
    dest_dir = Path(dest_dir)
    final = dest_dir / filename
    if final.exists():
        check_hash(final, md5, sha256)
        return final
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanEvalError(f"cannot create the data folder {dest_dir} ({e})") from None
    errors = []
    for url in urls:
        try:
            _fetch_one(url, final, md5, sha256, quiet)
            return final
        except (OSError, urllib.error.URLError, ValueError, GanEvalError) as e:
            errors.append(f"{url}: {e}")
    tried = "; ".join(errors)
    raise GanEvalError(
        f"could not download {filename} (offline?). Tried: {tried}. "
        f"Download it by hand and place it in {dest_dir}, or point --data-dir at a folder that holds it."
    )


def _fetch_one(url, final, md5, sha256, quiet):
    hashers = {}
    if md5 is not None:
        hashers["md5"] = (hashlib.md5(), md5.lower())
    if sha256 is not None:
        hashers["sha256"] = (hashlib.sha256(), sha256.lower())
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600 files
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            if not quiet:
                print(f"downloading {url}", file=sys.stderr)
            for chunk in iter(lambda: resp.read(CHUNK), b""):
                out.write(chunk)
                for h, _ in hashers.values():
                    h.update(chunk)
        for algorithm, (h, expected) in hashers.items():
            if h.hexdigest() != expected:
                raise GanEvalError(f"{algorithm} mismatch (got {h.hexdigest()}, expected {expected})")
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
