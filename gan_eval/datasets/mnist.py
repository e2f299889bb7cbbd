"""MNIST (LeCun et al. 1998) from the four original idx files.

Folder resolution: an explicit ``data_dir`` > env ``GAN_EVAL_DATA`` > ``$GAN_EVAL_CACHE/data/mnist`` (default ``~/.cache/gan_eval/data/mnist``).
A given folder may hold the files directly or in a ``mnist/`` subfolder. Only the default cache
folder is filled by download (from the usual mirrors, md5-checked); an explicit folder must
already hold the files, and a missing or corrupt file raises GanEvalError naming it.
"""

from pathlib import Path

import numpy as np

from gan_eval.errors import GanEvalError
from gan_eval.idx import read_idx

from .download import check_hash, dataset_folder, default_cache_dir, download

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# split -> (images file, labels file); md5 of the published .gz files
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
COUNTS = {"train": 60_000, "test": 10_000}
ENV = "GAN_EVAL_DATA"

_verified = {}  # (path, size, mtime) of files whose md5 was checked in this process


def mnist_dir(data_dir=None):
    """The folder MNIST is read from (see the module docstring), and whether it may be downloaded into."""
    folder, may_download = dataset_folder(data_dir, ENV, "MNIST", "mnist")
    if may_download:
        return folder, True
    if not _holds_any(folder) and _holds_any(folder / "mnist"):
        folder = folder / "mnist"
    return folder, False


def _holds_any(folder):
    return any((folder / name).exists() or (folder / name[:-3]).exists() for name in MD5)


def _file(folder, name, may_download):
    gz = folder / name
    if gz.exists():
        key = (str(gz), gz.stat().st_size, gz.stat().st_mtime_ns)
        if key not in _verified:
            check_hash(gz, md5=MD5[name])
            _verified[key] = True
        return gz
    raw = folder / name[:-3]  # an unpacked copy; the published md5s are of the .gz files
    if raw.exists():
        return raw
    if may_download:
        return download(name, [m + name for m in MIRRORS], folder, md5=MD5[name])
    raise GanEvalError(f"MNIST file {name} not found in {folder} (expected the original idx files)")


def download_mnist(dest_dir=None, quiet=False):
    """Download the four MNIST files (md5-checked) into `dest_dir` (default: the cache folder)."""
    folder = Path(dest_dir) if dest_dir is not None else default_cache_dir() / "mnist"
    return [download(name, [m + name for m in MIRRORS], folder, md5=md5, quiet=quiet) for name, md5 in MD5.items()]


def mnist_files(data_dir=None, split="train"):
    """The (images, labels) idx files of `split`, downloaded into the cache folder if need be."""
    if split not in FILES:
        raise GanEvalError(f"MNIST split must be one of {sorted(FILES)}, got {split!r}")
    folder, may_download = mnist_dir(data_dir)
    image_name, label_name = FILES[split]
    return _file(folder, image_name, may_download), _file(folder, label_name, may_download)


def load_mnist(data_dir=None, split="train"):
    """Return ``(images, labels)``: uint8 (N, 28, 28) and int64 (N,), N = 60000 (train) or 10000 (test).

    The arrays are read-only and shared between calls with the same files (copy to modify).
    """
    folder = mnist_dir(data_dir)[0]
    paths = mnist_files(data_dir, split)
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    if key not in _cache:
        if len(_cache) >= 2:  # keep at most two splits' arrays (about 55 MB) around
            _cache.clear()
        _cache[key] = _read(folder, split, *paths)
    return _cache[key]


_cache = {}


def _read(folder, split, image_path, label_path):
    image_name = image_path.name
    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1 or len(labels) != len(images):
        raise GanEvalError(
            f"{folder}: MNIST {split} files have shapes {images.shape} and {labels.shape}, expected (N, 28, 28) and (N,)"
        )
    if len(images) != COUNTS[split]:
        raise GanEvalError(f"{folder / image_name}: {len(images)} images, expected {COUNTS[split]}")
    labels = labels.astype(np.int64)
    labels.flags.writeable = False
    return images, labels
