"""Semi-supervised GAN: Odena 2016, "Semi-Supervised Learning with Generative Adversarial
Networks" (also Salimans et al. 2016, §5).

D is a (K+1)-way classifier: the K data classes and "generated". It learns from a few labelled
examples (``n_labels``, balanced over the classes, drawn with the run's seed), from all
training images without their labels, and from G's samples (see :mod:`losses`). G is an
ordinary unconditional generator. After training, D's first K logits classify the test set;
the trainer reports that accuracy. Nets and optimiser as :mod:`dcgan` (PacGAN's MLP on 2-D
points). Packing is refused (a tuple has no single class).
"""

from . import dcgan

PAPER = "Odena 2016, Semi-Supervised GAN"
OBJECTIVE = "sgan"
DEFAULT_N_LABELS = 100


def defaults(spec):
    d = dcgan.defaults(spec)
    d["n_labels"] = DEFAULT_N_LABELS
    return d


def build(spec, latent_dim, latent, width, pack=1, minibatch_disc=False):
    return dcgan.nets(spec, latent_dim, latent, width, pack, minibatch_disc, n_outputs=spec["n_classes"] + 1)
