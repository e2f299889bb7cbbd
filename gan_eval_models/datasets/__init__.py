"""Datasets for the reference GANs, by name.

=================  ======  ==================  =======  ==========================================
name               kind    shape               classes  source
=================  ======  ==================  =======  ==========================================
``mnist``          image   28×28×1             10       LeCun et al. 1998, the four idx files
``cifar10``        image   32×32×3             10       Krizhevsky 2009, python pickle batches
``stacked-mnist``  image   28×28×3             1000     Metz et al. 2017 (three digits as RGB)
``ring``           points  2                   8        PacGAN 2D-ring: 8 modes, radius 1, σ 0.01
``grid``           points  2                   25       PacGAN 2D-grid: 5×5 modes, spacing 2, σ 0.05
=================  ======  ==================  =======  ==========================================

``get_dataset(name, data_dir=None, split="train", **params)`` returns an :class:`ImageDataset`
(a torch Dataset over uint8 HWC images and int64 labels) or a :class:`GaussianMixture` sampler.
Image datasets take ``size`` (resize to size×size, e.g. 32 or 64 for DCGAN); stacked-mnist also
``n``, ``seed`` and ``digits`` ("split": the requested split's digits, the default; "all": the
70,000 train and test digits, whatever the split); ring takes ``n_modes``, ``radius``, ``std``; grid ``side``, ``spacing``, ``std``.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from gan_eval.errors import GanEvalError

from .mixtures import GaussianMixture, grid, ring


@dataclass(frozen=True)
class DatasetInfo:
    kind: str  # "image" or "points"
    channels: int  # image channels (0 for points)
    size: int  # native image side (0 for points)
    n_classes: int  # labels, or mixture components with default parameters
    description: str


DATASETS = {
    "mnist": DatasetInfo("image", 1, 28, 10, "MNIST digits, 60000 train / 10000 test"),
    "cifar10": DatasetInfo("image", 3, 32, 10, "CIFAR-10, 50000 train / 10000 test"),
    "stacked-mnist": DatasetInfo("image", 3, 28, 1000, "three MNIST digits as RGB, 1000 modes"),
    "ring": DatasetInfo("points", 0, 0, 8, "8 Gaussians on a circle of radius 1, std 0.01"),
    "grid": DatasetInfo("points", 0, 0, 25, "5x5 Gaussians at {-4,-2,0,2,4}^2, std 0.05"),
}

_PARAMS = {
    "mnist": {"size"},
    "cifar10": {"size"},
    "stacked-mnist": {"size", "n", "seed", "digits"},
    "ring": {"n_modes", "radius", "std"},
    "grid": {"side", "spacing", "std"},
}


class ImageDataset(Dataset):
    """uint8 images (N, H, W, C) with int64 labels; items are ``(tensor HWC uint8, int)``."""

    def __init__(self, images, labels, name, n_classes):
        self.images = images
        self.labels = labels
        self.name = name
        self.n_classes = n_classes

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return torch.from_numpy(np.ascontiguousarray(self.images[i])), int(self.labels[i])

    def __repr__(self):
        return f"ImageDataset({self.name}, n={len(self)}, shape={self.images.shape[1:]})"


def check_name(name):
    if name not in DATASETS:
        raise GanEvalError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return name


def _check_params(name, params):
    unknown = set(params) - _PARAMS[name]
    if unknown:
        raise GanEvalError(
            f"dataset {name!r} takes no parameter(s) {', '.join(sorted(unknown))}; "
            f"it takes: {', '.join(sorted(_PARAMS[name])) or 'none'}"
        )


def get_dataset(name, data_dir=None, split="train", **params):
    """Load dataset `name` (see the module docstring); unknown names raise GanEvalError listing the known ones."""
    check_name(name)
    _check_params(name, params)
    if name == "ring":
        return ring(**params)
    if name == "grid":
        return grid(**params)
    size = params.pop("size", None)
    if name == "mnist":
        from .mnist import load_mnist

        images, labels = load_mnist(data_dir, split)
        images = images[..., None]
    elif name == "cifar10":
        from .cifar10 import load_cifar10

        images, labels = load_cifar10(data_dir, split)
    else:
        from .stacked_mnist import load_stacked_mnist

        digits = params.pop("digits", "split")
        if digits not in ("split", "all"):
            raise GanEvalError(f"stacked-mnist: digits must be 'split' or 'all', got {digits!r}")
        images, labels = load_stacked_mnist(data_dir, "all" if digits == "all" else split, **params)
    if size is not None:
        from .transforms import resize_uint8

        images = resize_uint8(images, size)
    return ImageDataset(images, labels, name, DATASETS[name].n_classes)


def dataset_spec(name, image_size=None, **params):
    """What a model needs to know without loading the data: kind, sample shape (C, H, W) or (2,), classes."""
    info = DATASETS[check_name(name)]
    _check_params(name, params)
    if info.kind == "points":
        mixture = get_dataset(name, **params)
        return {"kind": "points", "shape": (2,), "n_classes": mixture.n_modes}
    size = int(image_size) if image_size is not None else params.get("size") or info.size
    return {"kind": "image", "shape": (info.channels, size, size), "n_classes": info.n_classes}


__all__ = ["DATASETS", "GaussianMixture", "ImageDataset", "dataset_spec", "get_dataset", "grid", "ring"]
