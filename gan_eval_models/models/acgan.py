"""AC-GAN: Odena, Olah & Shlens 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs" (ICML).

G(z, c) takes the class c ~ U{0..K−1} as a one-hot vector concatenated to z; D has two heads on
the same features, a source logit and K class logits. D minimises L_D + ½(L_C^real + L_C^fake),
G minimises L_G + L_C^fake (see :mod:`losses`). Nets: DCGAN's (images) or PacGAN's MLP
(2-D points, where the class is the mixture component). Adam 2e-4, β1 0.5, batch 100 (the
paper's CIFAR-10 settings). Packing is not defined for a class head and is refused.
"""

from . import dcgan

PAPER = "Odena et al. 2017, AC-GAN"
OBJECTIVE = "acgan"


def defaults(spec):
    d = dcgan.defaults(spec)
    if spec["kind"] == "image":
        d["batch_size"] = 100
    return d


def build(spec, latent_dim, latent, width, pack=1, minibatch_disc=False):
    k = spec["n_classes"]
    return dcgan.nets(spec, latent_dim, latent, width, pack, minibatch_disc, n_cond=k, n_outputs=1 + k)
