"""Unpaired image domains for CycleGAN, each with content labels (the digit).

``restyled-mnist`` (no download): domain A is MNIST as it is; domain B is *restyled* MNIST:
strokes thickened by a 3×3 grey-scale dilation (a max filter) and the image inverted
(dark strokes on a white background). The two domains come from disjoint parts of MNIST,
so no B image is the restyling of an A image (the pairing is never seen):

=========  ===========================  ===========================  ===================
split      domain A (MNIST)             domain B (restyled MNIST)    held out (B)
=========  ===========================  ===========================  ===================
train      train[0:25000]               train[25000:50000]           train[50000:55000]
test       test[0:5000]                 test[5000:10000]
=========  ===========================  ===========================  ===================

Content of a B image is read by the committed MNIST classifier after the inverse of the
inversion, x ↦ 255 − x (:func:`to_mnist_style`); thickening is left in, and the classifier's
accuracy on real B images is reported as the ceiling of the content score.

``usps``: domain A MNIST train[0:50000] / test, domain B USPS (:mod:`.usps`, downloaded with
md5 checks; 16 px resized to 28). USPS content is read by the MNIST classifier directly.
"""

import numpy as np
import torch

from gan_eval.errors import GanEvalError

from .mnist import load_mnist

PAIRS = ("restyled-mnist", "usps")


def restyle(images):
    """Domain B of ``restyled-mnist``: 255 − maxfilter3×3(x) for uint8 (N, 28, 28) digits."""
    x = torch.from_numpy(np.array(images, dtype=np.float32))[:, None]
    thick = torch.nn.functional.max_pool2d(x, 3, stride=1, padding=1)
    return (255 - thick[:, 0]).to(torch.uint8).numpy()


def to_mnist_style(images, pair, domain):
    """uint8 (N, 28, 28[, 1]) images of `domain` ("a"/"b") mapped to MNIST's style for the classifier."""
    images = np.asarray(images)
    if pair == "restyled-mnist" and domain == "b":
        return (255 - images).astype(np.uint8)
    return images


def load_domains(pair, data_dir=None, split="train"):
    """{"a": (images uint8 (N, 28, 28), labels), "b": (...)} (and "b_heldout" for restyled-mnist, train split)."""
    if pair not in PAIRS:
        raise GanEvalError(f"unknown domain pair {pair!r}; known: {', '.join(PAIRS)}")
    images, labels = load_mnist(data_dir, split)
    images, labels = np.array(images), np.array(labels)
    if pair == "usps":
        from .usps import load_usps

        a = (images[:50_000], labels[:50_000]) if split == "train" else (images, labels)
        return {"a": a, "b": load_usps(None, split)}
    if split == "train":
        return {"a": (images[:25_000], labels[:25_000]),
                "b": (restyle(images[25_000:50_000]), labels[25_000:50_000]),
                "b_heldout": (restyle(images[50_000:55_000]), labels[50_000:55_000])}
    return {"a": (images[:5_000], labels[:5_000]), "b": (restyle(images[5_000:]), labels[5_000:])}
