"""USPS handwritten digits (Hull 1994), the LIBSVM copy used by torchvision and most MNIST↔USPS work.

Two bzip2 files in LIBSVM format (``label 1:v1 … 256:v256``, labels 1–10 for digits 0–9, pixels
in [−1, 1] on a 16×16 grid): ``usps.bz2`` (7,291 training images) and ``usps.t.bz2`` (2,007
test images), md5-checked. Folder resolution as for MNIST: an explicit ``data_dir`` > env
``GAN_EVAL_USPS`` > ``~/.cache/gan_eval/data/usps`` (only the last is downloaded into). Offline,
a missing file raises GanEvalError naming the URL and the folder to put it in.
"""

import bz2

import numpy as np

from gan_eval.errors import GanEvalError

from .download import check_hash, dataset_folder, download

URL = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"
FILES = {"train": "usps.bz2", "test": "usps.t.bz2"}
MD5 = {"usps.bz2": "ec16c51db3855ca6c91edd34d0e9b197", "usps.t.bz2": "8ea070ee2aca1ac39742fdd1ef5ed118"}
COUNTS = {"train": 7291, "test": 2007}
ENV = "GAN_EVAL_USPS"


def parse_libsvm_digits(text):
    """(uint8 images (N, 16, 16), int64 labels 0–9) from LIBSVM lines with 256 pixel values in [−1, 1]."""
    images, labels = [], []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        pixels = np.full(256, -1.0)
        for item in parts[1:]:
            index, value = item.split(":")
            pixels[int(index) - 1] = float(value)
        labels.append(int(float(parts[0])) - 1)
        images.append(pixels)
    if not images:
        raise GanEvalError("no USPS rows found")
    x = np.round((np.clip(np.stack(images), -1, 1) + 1) * 127.5).astype(np.uint8).reshape(-1, 16, 16)
    y = np.asarray(labels, dtype=np.int64)
    if y.min() < 0 or y.max() > 9:
        raise GanEvalError(f"USPS labels must be 1..10, found {y.min() + 1}..{y.max() + 1}")
    return x, y


def load_usps(data_dir=None, split="train", size=28):
    """(uint8 images (N, size, size), int64 labels) of the USPS `split`, resized bilinearly from 16 px."""
    if split not in FILES:
        raise GanEvalError(f"USPS split must be one of {sorted(FILES)}, got {split!r}")
    folder, may_download = dataset_folder(data_dir, ENV, "USPS", "usps")
    name = FILES[split]
    path = folder / name
    if path.exists():
        check_hash(path, md5=MD5[name])
    elif may_download:
        path = download(name, [URL + name], folder, md5=MD5[name])
    else:
        raise GanEvalError(f"USPS file {name} not found in {folder} (download {URL + name} into it)")
    x, y = parse_libsvm_digits(bz2.decompress(path.read_bytes()).decode())
    if len(x) != COUNTS[split]:
        raise GanEvalError(f"{path}: {len(x)} images, expected {COUNTS[split]}")
    if size != 16:
        import torch

        t = torch.from_numpy(x).float()[:, None]
        t = torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
        x = t[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()
    return x, y
