"""Feature spaces and score sets shared by the truncation sweep and the CycleGAN/StackGAN tables.

Two feature spaces:

- ``inception``: the 2048-d pool3 features of the 2015 TF-Inception network (what FID, KID and
  precision/recall are defined on), through :mod:`gan_eval.features`; images are resized to
  299 px by gan-eval's default resize. The standard choice, and slow on a CPU (a few images/s).
- ``mnist-classifier``: the 128-d penultimate activations (after the ReLU) of the committed MNIST
  classifier (:mod:`gan_eval_models.classifier`), for 28×28 grey digits (other sides are resized
  bilinearly to 28 px; RGB is averaged to grey). Thousands of images/s on a CPU. Scores in this
  space are *not* comparable with Inception FIDs; tables say which space they use.

:func:`scores` computes FID (:func:`gan_eval.fid_from_features`), KID
(:func:`gan_eval.kernel_inception_distance`), precision/recall (k = 3) and density/coverage
(k = 5) (:func:`gan_eval.metrics.prdc.prdc`) from one feature set per side, and, given classifier
logits, the classifier Inception Score (:func:`gan_eval.inception_score`, 10 splits).
"""

import numpy as np
import torch

from gan_eval import defaults
from gan_eval.errors import GanEvalError

FEATURES = ("inception", "mnist-classifier")


def check_features(name):
    if name not in FEATURES:
        raise GanEvalError(f"unknown feature space {name!r}; known: {', '.join(FEATURES)}")
    return name


def to_grey28(images):
    """uint8 images (N, H, W, C) → float32 tensor (N, 1, 28, 28) in [0, 1] (grey mean, bilinear resize)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise GanEvalError(f"images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    x = torch.from_numpy(np.array(images, dtype=np.float32)).div_(255.0).permute(0, 3, 1, 2).mean(1, keepdim=True)
    if x.shape[-2:] != (28, 28):
        x = torch.nn.functional.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp_(0, 1)


@torch.no_grad()
def classifier_outputs(images, classifier=None, batch_size=1000):
    """(features float64 (N, 128), logits float64 (N, 10)) of the MNIST classifier for uint8 NHWC images."""
    from .classifier import load_classifier

    model = classifier if classifier is not None else load_classifier()
    x = to_grey28(images)
    feats, logits = [], []
    for s in range(0, len(x), batch_size):
        h = model.head[:3](model.features((x[s:s + batch_size] - 0.1307) / 0.3081))
        feats.append(h.double())
        logits.append(model.head[3:](h).double())
    if not feats:
        raise GanEvalError("no images")
    return torch.cat(feats).numpy(), torch.cat(logits).numpy()


def inception_features(images, weights=None, device=None, quiet=True):
    """pool3 features (float32 (N, 2048)) of uint8 NHWC images (grey images are repeated to RGB)."""
    from gan_eval.features.extract import extract_features

    images = np.asarray(images)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return extract_features(images, weights=weights, device=device, outputs="pool3", progress=not quiet, quiet=quiet)


def features_of(images, space, classifier=None, weights=None, device=None):
    """(features, classifier logits or None) of uint8 NHWC images in feature space `space`.

    Classifier logits come back for 28-px grey-convertible images in both spaces (they are cheap)
    so the classifier Inception Score can be reported next to an Inception-feature FID.
    """
    check_features(space)
    feats, logits = classifier_outputs(images, classifier)
    if space == "inception":
        feats = inception_features(images, weights, device)
    return feats, logits


def scores(real, fake, fake_logits=None, kid=True, seed=defaults.SEED):
    """FID, KID, precision, recall, density, coverage (and classifier IS) of `fake` against `real` features.

    real, fake: float arrays (N, d) in the same feature space. KID uses subsets of
    min(1000, N_real, N_fake) (``kid=False`` skips it). Returns a dict of floats; ``kid`` and
    ``classifier_is`` as ``{"mean", "std"}``.
    """
    from gan_eval.metrics.fid import fid_from_features
    from gan_eval.metrics.inception_score import inception_score
    from gan_eval.metrics.kid import kernel_inception_distance
    from gan_eval.metrics.prdc import prdc

    out = {"fid": float(fid_from_features(real, fake, warn=False))}
    if kid:
        size = min(defaults.KID_SUBSET_SIZE, len(real), len(fake))
        r = kernel_inception_distance(real, fake, subset_size=size, seed=seed)
        out["kid"] = {"mean": float(r["mean"]), "std": float(r["std"])}
    out.update({k: float(v) for k, v in prdc(real, fake).items()})
    if fake_logits is not None:
        r = inception_score(fake_logits, splits=min(defaults.IS_SPLITS, len(fake_logits)), seed=seed)
        out["classifier_is"] = {"mean": float(r["mean"]), "std": float(r["std"])}
    return out
