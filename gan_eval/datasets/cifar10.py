"""CIFAR-10 (Krizhevsky 2009) from the python pickle batches.

The folder may hold the batch files (``data_batch_1`` … ``data_batch_5``, ``test_batch``)
directly, the extracted ``cifar-10-batches-py/`` folder, or the ``cifar-10-python.tar.gz``
archive itself (read without unpacking). Folder resolution: explicit ``data_dir`` > env
``GAN_EVAL_CIFAR10`` > ``$GAN_EVAL_CACHE/data/cifar10`` (default ``~/.cache/gan_eval/data/cifar10``); only the cache folder is filled by
download (md5-checked archive from the Toronto site).
"""

import pickle
import tarfile

import numpy as np

from gan_eval.errors import GanEvalError

from .download import check_hash, dataset_folder, download

ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
SUBDIR = "cifar-10-batches-py"
BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
ENV = "GAN_EVAL_CIFAR10"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def cifar10_dir(data_dir=None):
    return dataset_folder(data_dir, ENV, "CIFAR-10", "cifar10")


def _unpickle(data, name):
    try:
        d = pickle.loads(data, encoding="bytes")
        images = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except Exception as e:  # any unpickling or key problem means a foreign file
        raise GanEvalError(f"{name}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from None
    if images.ndim != 2 or images.shape[1] != 3072 or len(labels) != len(images):
        raise GanEvalError(f"{name}: CIFAR-10 batch has data {images.shape} and {len(labels)} labels, expected (N, 3072)")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise GanEvalError(f"{name}: CIFAR-10 labels outside 0..9")
    return images, labels


def cifar10_files(data_dir=None, split="train"):
    """The files `split` is read from: its batch files, or else the (md5-checked) archive."""
    if split not in BATCHES:
        raise GanEvalError(f"CIFAR-10 split must be one of {sorted(BATCHES)}, got {split!r}")
    folder, may_download = cifar10_dir(data_dir)
    names = BATCHES[split]
    for base in (folder, folder / SUBDIR):
        if all((base / n).is_file() for n in names):
            return [base / n for n in names]
    archive = folder / ARCHIVE
    if not archive.exists():
        if not may_download:
            missing = next(n for n in names if not (folder / n).is_file())
            raise GanEvalError(f"CIFAR-10 file {missing} (or {ARCHIVE}) not found in {folder}")
        return [download(ARCHIVE, URLS, folder, md5=ARCHIVE_MD5)]
    check_hash(archive, md5=ARCHIVE_MD5)
    return [archive]


def _read_batches(files, names):
    if files[0].name != ARCHIVE:
        return [_unpickle(f.read_bytes(), f) for f in files]
    archive = files[0]
    out = []
    with tarfile.open(archive, "r:gz") as tar:
        for n in names:
            try:
                member = tar.extractfile(f"{SUBDIR}/{n}")
            except KeyError:
                member = None
            if member is None:
                raise GanEvalError(f"{archive}: has no {SUBDIR}/{n}")
            out.append(_unpickle(member.read(), f"{archive}:{n}"))
    return out


def load_cifar10(data_dir=None, split="train"):
    """Return ``(images, labels)``: uint8 (N, 32, 32, 3) RGB and int64 (N,); N = 50000 or 10000."""
    parts = _read_batches(cifar10_files(data_dir, split), BATCHES[split])
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    # rows are 1024 red, 1024 green, 1024 blue values, each plane row-major
    return np.ascontiguousarray(images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), labels
