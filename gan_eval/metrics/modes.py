"""Mode-coverage probes for GANs trained on data with known modes.

Two protocols, both from the mode-collapse literature:

* Gaussian mixtures in R^d (the 2-D ring of 8 and grid of 25 of VEEGAN, Srivastava et al. 2017,
  and PacGAN, Lin et al. 2018): :func:`mode_coverage`.
* Stacked MNIST, three MNIST digits as the colour channels, 1000 modes (VEEGAN, PacGAN):
  :func:`stacked_mnist_modes`, with a digit classifier passed in.

Both are pure functions of arrays (and, for Stacked MNIST, a classifier): no I/O, no printing.

``mode_coverage`` takes points as floats; uint8 input (8-bit pixels, not points) is refused.
"""

import math

import numpy as np
import torch

from .. import defaults
from ..errors import GanEvalError
from ._checks import as_float_matrix, positive_int, same_dims
from .divergence import kl_divergence
from ._knn import distance_blocks

STACKED_MNIST_MODES = 1000


def kl_to_uniform(counts):
    """KL(p ‖ u) in nats between the normalised histogram ``p = counts / sum(counts)`` and the
    uniform distribution ``u`` over the same ``K = len(counts)`` bins:

        KL(p ‖ u) = Σ_{k: p_k > 0} p_k log(K p_k),   0 ≤ KL ≤ log K.

    Bins with ``p_k = 0`` contribute 0 (the convention 0 log 0 = 0; PacGAN's code skips them the
    same way). ``u`` has no empty bin, so the value is always finite. An all-zero histogram has no
    distribution; this function then returns ``log K``, the largest value any histogram can reach
    (that of a generator collapsed onto one mode), so a run that produced nothing usable ranks
    last instead of producing NaN. The divergence itself is
    :func:`gan_eval.metrics.divergence.kl_divergence` on the two histograms.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0:
        raise GanEvalError(f"counts: expected a non-empty 1-D histogram, got shape {counts.shape}")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise GanEvalError("counts: histogram entries must be finite and >= 0")
    k = counts.size
    if counts.sum() == 0:
        return math.log(k)
    kl = kl_divergence(counts, np.ones(k), samples=False)
    return min(kl, math.log(k))  # clip rounding just above log K


def mode_coverage(samples, centres, std, threshold=defaults.MODES_STD_THRESHOLD, min_count=defaults.MODES_MIN_COUNT):
    """Modes captured, share of high-quality samples and reverse KL for a Gaussian mixture.

    The protocol of VEEGAN (Srivastava et al. 2017, §5.1) and PacGAN (Lin et al. 2018, §5.1;
    their ``MetricLogger``): each generated sample is assigned to its nearest mode centre ``c_k``.

    * A sample is **high quality** when ``||x - c_k|| < threshold * std`` (default: within 3
      standard deviations; strict inequality, as in PacGAN's code).
    * ``histogram[k]`` counts the high-quality samples whose nearest mode is ``k``.
    * A mode is **captured** when ``histogram[k] >= min_count`` (default 1: at least one
      high-quality sample, as in both papers).
    * ``reverse_kl = KL(p_gen ‖ u)`` with ``p_gen = histogram / histogram.sum()`` (the
      high-quality samples only) and ``u`` uniform over the ``K`` modes, the true mixture weights.
      Empty modes contribute 0; with no high-quality sample at all it is ``log K`` (see
      :func:`kl_to_uniform`).

    Parameters
    ----------
    samples : array (n, d)
        Generated points.
    centres : array (K, d)
        Mode centres (the mixture means).
    std : float
        Standard deviation of every mixture component (isotropic).
    threshold : float
        High-quality radius in standard deviations (``defaults.MODES_STD_THRESHOLD`` = 3).
    min_count : int
        High-quality samples a mode needs to count as captured (``defaults.MODES_MIN_COUNT`` = 1).

    Returns
    -------
    dict with ``modes_captured`` (int), ``n_modes`` (K), ``high_quality_fraction`` (in [0, 1]),
    ``reverse_kl`` (nats, in [0, log K]), ``histogram`` (int64 array of K counts) and
    ``n_samples``.
    """
    x = as_float_matrix(samples, "samples", dtype=torch.float64, uint8="refuse")
    c = as_float_matrix(centres, "centres", dtype=torch.float64, uint8="refuse")
    same_dims(x, c, "samples", "centres")
    std = _positive_float(std, "std")
    threshold = _positive_float(threshold, "threshold")
    min_count = positive_int(min_count, "min_count")

    k = c.shape[0]
    radius = threshold * std
    histogram = np.zeros(k, dtype=np.int64)
    for _, block in distance_blocks(x, c):
        dist, nearest = block.min(dim=1)  # ties go to the lower index
        hq = dist < radius
        histogram += np.bincount(nearest[hq].numpy(), minlength=k)

    n = x.shape[0]
    return {
        "modes_captured": int(np.count_nonzero(histogram >= min_count)),
        "n_modes": int(k),
        "high_quality_fraction": float(histogram.sum() / n),
        "reverse_kl": kl_to_uniform(histogram),
        "histogram": histogram,
        "n_samples": int(n),
    }


def stacked_mnist_modes(images, classifier, batch_size=500, device=None):
    """Modes covered (out of 1000) and KL to uniform for Stacked MNIST samples.

    Each image holds three MNIST digits as its colour channels (R, G, B). The classifier labels
    each channel; the image's mode is ``100 a + 10 b + c`` for the digits ``a, b, c`` of
    channels 0, 1, 2. As in VEEGAN (§5.2) and PacGAN's code (``log_metrics``):

    * ``modes_covered`` = number of the 1000 triples predicted for at least one sample;
    * ``kl = KL(p_gen ‖ u)`` with ``p_gen`` the normalised histogram of predicted modes over all
      samples and ``u`` uniform over 1000 modes (empty modes contribute 0).

    Parameters
    ----------
    images : uint8 array (n, 28, 28, 3), NHWC, or a float array of that shape in [0, 1]
    classifier : torch module mapping float (B, 1, 28, 28) pixels in [0, 1] to 10 logits,
        e.g. ``gan_eval_models.classifier.load_classifier()``. Run in eval mode; its train/eval
        flag is restored afterwards.
    batch_size : int
        Images per classifier call.
    device : torch device for the classifier calls (default: the classifier's own).

    Returns
    -------
    dict with ``modes_covered``, ``n_modes`` (1000), ``kl`` (nats, in [0, log 1000]),
    ``histogram`` (int64 array of 1000 counts), ``n_samples``.
    """
    x = _stacked_images(images)
    batch_size = positive_int(batch_size, "batch_size")
    if not isinstance(classifier, torch.nn.Module):
        raise GanEvalError(f"classifier: expected a torch.nn.Module, got {type(classifier).__name__}")
    if device is None:
        param = next(classifier.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")

    was_training = classifier.training
    classifier.eval()
    labels = np.empty(x.shape[0], dtype=np.int64)
    try:
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                chunk = x[start:start + batch_size]
                n = chunk.shape[0]
                # (n, 28, 28, 3) -> (3n, 1, 28, 28), channel-major so digits[c] is channel c
                planes = chunk.permute(3, 0, 1, 2).reshape(3 * n, 1, 28, 28).to(device)
                logits = classifier(planes)
                if logits.ndim != 2 or logits.shape != (3 * n, 10):
                    raise GanEvalError(
                        f"classifier: expected (batch, 10) logits, got shape {tuple(logits.shape)}"
                    )
                digits = logits.argmax(dim=1).reshape(3, n).cpu().numpy()
                labels[start:start + n] = 100 * digits[0] + 10 * digits[1] + digits[2]
    finally:
        classifier.train(was_training)

    histogram = np.bincount(labels, minlength=STACKED_MNIST_MODES).astype(np.int64)
    return {
        "modes_covered": int(np.count_nonzero(histogram)),
        "n_modes": STACKED_MNIST_MODES,
        "kl": kl_to_uniform(histogram),
        "histogram": histogram,
        "n_samples": int(x.shape[0]),
    }


def _stacked_images(images):
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (28, 28, 3):
        raise GanEvalError(f"images: expected Stacked MNIST images of shape (n, 28, 28, 3), got {images.shape}")
    if images.shape[0] < 1:
        raise GanEvalError("images: needs at least 1 image, got 0")
    if images.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    if not np.issubdtype(images.dtype, np.floating):
        raise GanEvalError(f"images: expected uint8 or floats in [0, 1], got dtype {images.dtype}")
    if not np.all(np.isfinite(images)):
        raise GanEvalError("images: contains NaN or infinite values")
    if images.min() < 0 or images.max() > 1:
        raise GanEvalError("images: float pixels must lie in [0, 1] (pass uint8 for 0..255)")
    return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))


def _positive_float(value, name):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise GanEvalError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise GanEvalError(f"{name} must be a positive finite number, got {value!r}")
    return v
