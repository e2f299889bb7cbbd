"""LSGAN: Mao et al. 2017, "Least Squares Generative Adversarial Networks" (ICCV).

The DCGAN nets of :mod:`dcgan` with the discriminator's sigmoid removed (its output is used
raw) and the least-squares objectives with 0-1 coding (a = 0, b = c = 1):
L_D = ½ E (D(x) − 1)² + ½ E D(G(z))², L_G = ½ E (D(G(z)) − 1)².
The paper used larger VGG-like nets for LSUN; we keep DCGAN's nets and optimiser settings
(Adam 2e-4, β1 0.5, batch 128) so that the loss is the only difference from :mod:`dcgan`.
"""

from . import dcgan

PAPER = "Mao et al. 2017, Least Squares GAN"
OBJECTIVE = "gan"


def defaults(spec):
    d = dcgan.defaults(spec)
    d["loss"] = "least-squares"
    return d


def build(spec, latent_dim, latent, width, pack=1, minibatch_disc=False):
    return dcgan.nets(spec, latent_dim, latent, width, pack, minibatch_disc)
