"""Standard datasets as metric inputs, by name: ``mnist-train``, ``mnist-test``, ``cifar10-train``,
``cifar10-test``, each with an optional Python slice, e.g. ``mnist-train[:10000]``.

=================  ======  ===================  =========================================
name               images  shape (uint8)        files
=================  ======  ===================  =========================================
``mnist-train``    60000   28 x 28, grayscale   ``train-images-idx3-ubyte[.gz]``
``mnist-test``     10000   28 x 28, grayscale   ``t10k-images-idx3-ubyte[.gz]``
``cifar10-train``  50000   32 x 32 x 3, RGB     ``data_batch_1`` ... ``data_batch_5``
``cifar10-test``   10000   32 x 32 x 3, RGB     ``test_batch``
=================  ======  ===================  =========================================

The aliases of the Parzen protocol (Goodfellow et al. 2014) are names too: ``mnist:train`` is
``mnist-train[:50000]``, ``mnist:validation`` is ``mnist-train[50000:]``, ``mnist:test`` is
``mnist-test``.

Folders: an explicit ``data_dir`` (CLI ``--data-dir``), else env ``GAN_EVAL_DATA`` (MNIST; CIFAR-10
from its ``cifar10/`` subfolder or env ``GAN_EVAL_CIFAR10``), else the download cache
``$GAN_EVAL_CACHE/data/<dataset>`` (default ``~/.cache/gan_eval/data/<dataset>``), which is filled by an md5-checked download. A folder that
was given must already hold the files; a missing file raises GanEvalError naming the folder.

The readers live here (``mnist``, ``cifar10``, ``download``) so the core never imports
``gan_eval_models``, whose dataset registry builds on them.
"""

import hashlib
import os
import re
from pathlib import Path

from ..errors import GanEvalError

NAMES = {  # name -> (reader, split, number of images)
    "mnist-train": ("mnist", "train", 60_000),
    "mnist-test": ("mnist", "test", 10_000),
    "cifar10-train": ("cifar10", "train", 50_000),
    "cifar10-test": ("cifar10", "test", 10_000),
}
ALIASES = {  # the Parzen protocol's MNIST splits
    "mnist:train": "mnist-train[:50000]",
    "mnist:validation": "mnist-train[50000:]",
    "mnist:test": "mnist-test",
}
_PATTERN = re.compile(r"^(?P<name>[a-z0-9]+-[a-z]+)(?:\[(?P<start>-?\d*):(?P<stop>-?\d*)\])?$")
_LOOKS_LIKE = re.compile(r"^(mnist|cifar)[\w:-]*(\[.*\])?$", re.IGNORECASE)


def parse_name(text):
    """``(name, slice)`` for a dataset name such as ``mnist-train[:1000]``; None when `text` is not
    one. A known name with a malformed slice, or a name that resembles one, raises GanEvalError."""
    if not isinstance(text, str):
        return None
    text = ALIASES.get(text, text)
    m = _PATTERN.match(text)
    if m and m["name"] in NAMES:
        start = int(m["start"]) if m["start"] else None
        stop = int(m["stop"]) if m["stop"] else None
        return m["name"], slice(start, stop)
    if _LOOKS_LIKE.match(text):
        known = ", ".join(list(NAMES) + list(ALIASES))
        raise GanEvalError(f"{text}: no such file or folder, nor a dataset name (known: {known}, each with an "
                           "optional slice such as mnist-train[:10000], start:stop as in Python)")
    return None


def _cifar10_dir(data_dir):
    if data_dir is None and not os.environ.get("GAN_EVAL_CIFAR10") and os.environ.get("GAN_EVAL_DATA"):
        sub = Path(os.environ["GAN_EVAL_DATA"]).expanduser() / "cifar10"
        if sub.is_dir():
            return sub
    if data_dir is not None and (Path(data_dir) / "cifar10").is_dir():
        return Path(data_dir) / "cifar10"
    return data_dir


def _files_and_images(reader, split, data_dir):
    if reader == "mnist":
        from .mnist import load_mnist, mnist_files

        return mnist_files(data_dir, split), load_mnist(data_dir, split)[0]
    from .cifar10 import cifar10_files, load_cifar10

    folder = _cifar10_dir(data_dir)
    return cifar10_files(folder, split), load_cifar10(folder, split)[0]


def open_dataset(text, data_dir=None):
    """An image source (``gan_eval.inputs.ArraySource``) over the named dataset's slice.

    Its fingerprint for the feature cache covers the name, the slice (as absolute rows) and the
    identity (path, size, modification time) of the files read, as a folder's does.
    Raises GanEvalError for an unknown name, an empty slice, or missing files.
    """
    from ..inputs import ArraySource

    parsed = parse_name(text)
    if parsed is None:
        raise GanEvalError(f"{text}: not a dataset name; known: {', '.join(list(NAMES) + list(ALIASES))}")
    name, sl = parsed
    reader, split, _ = NAMES[name]
    files, images = _files_and_images(reader, split, data_dir)
    start, stop, _ = sl.indices(len(images))
    if stop <= start:
        raise GanEvalError(f"{text}: the slice selects no images ({name} holds {len(images)})")
    h = hashlib.sha256(f"dataset\0{name}\0{start}\0{stop}\n".encode())
    for f in files:
        st = Path(f).stat()
        h.update(f"{Path(f).resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    label = name if (start, stop) == (0, len(images)) else f"{name}[{start}:{stop}]"
    return ArraySource(images[start:stop], name=label, fingerprint=h.hexdigest())


__all__ = ["ALIASES", "NAMES", "open_dataset", "parse_name"]
