"""Stacked MNIST (Metz et al. 2017; used by VEEGAN and PacGAN to count modes).

Each image stacks three MNIST digits, drawn independently and uniformly, as its red, green and
blue channels. With digits (a, b, c) in (R, G, B) the image belongs to mode ``100a + 10b + c``,
so the data have 1000 equally likely modes. The draw is seeded, so a given (split, n, seed)
always yields the same set.
"""

import numpy as np

from gan_eval.errors import GanEvalError

from .mnist import load_mnist
from .transforms import resize_uint8

N_MODES = 1000


def load_digits(data_dir=None, split="train"):
    """MNIST digits and labels of `split`: "train" (60,000), "test" (10,000) or "all" (the 70,000
    of both, train first; PacGAN's VEEGAN-setting code draws its triples from these)."""
    if split == "all":
        parts = [load_mnist(data_dir, s) for s in ("train", "test")]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return load_mnist(data_dir, split)


def load_stacked_mnist(data_dir=None, split="train", n=None, seed=0, size=28):
    """Return ``(images, modes)``: uint8 (n, size, size, 3) and int64 (n,) in 0..999.

    split: the digits drawn from, "train", "test" or "all" (:func:`load_digits`). n defaults to
    the number of those digits; size is 28 (native) or any larger size (32, 64 for DCGAN),
    reached by bilinear resizing. Digit indices: ``numpy.random.default_rng(seed).integers(0,
    len(digits), (n, 3))``, channel k of image i is digit idx[i, k].
    """
    digits, labels = load_digits(data_dir, split)
    if n is None:
        n = len(digits)
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise GanEvalError(f"stacked-mnist: n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(digits), size=(int(n), 3))
    images = np.stack([digits[idx[:, 0]], digits[idx[:, 1]], digits[idx[:, 2]]], axis=-1)
    modes = 100 * labels[idx[:, 0]] + 10 * labels[idx[:, 1]] + labels[idx[:, 2]]
    return resize_uint8(images, size), modes.astype(np.int64)
