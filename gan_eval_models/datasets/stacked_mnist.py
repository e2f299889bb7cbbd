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


def load_stacked_mnist(data_dir=None, split="train", n=None, seed=0, size=28):
    """Return ``(images, modes)``: uint8 (n, size, size, 3) and int64 (n,) in 0..999.

    n defaults to the number of MNIST images of the split (60000 train, 10000 test); size is
    28 (native) or any larger size (32, 64 for DCGAN), reached by bilinear resizing.
    """
    digits, labels = load_mnist(data_dir, split)
    if n is None:
        n = len(digits)
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise GanEvalError(f"stacked-mnist: n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(digits), size=(int(n), 3))
    images = np.stack([digits[idx[:, 0]], digits[idx[:, 1]], digits[idx[:, 2]]], axis=-1)
    modes = 100 * labels[idx[:, 0]] + 10 * labels[idx[:, 1]] + labels[idx[:, 2]]
    return resize_uint8(images, size), modes.astype(np.int64)
