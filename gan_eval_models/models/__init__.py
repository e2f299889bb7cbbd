"""Reference GANs by name; each family lives in its own module.

===========  =========================================  ==============================================
name         paper                                      nets (images / 2-D points)
===========  =========================================  ==============================================
gan2014      Goodfellow et al. 2014                     MLP 1200-1200 / maxout D / PacGAN 2-D MLP
dcgan        Radford et al. 2016                        strided conv nets with batch norm / PacGAN MLP
dcgan-small  Metz et al. 2017 (Stacked MNIST)            small 3×3 conv nets, D = ¼ or ½ of G (28 px only)
dcgan-veegan Lin et al. 2018 (PacGAN, VEEGAN setting)   4-layer 5×5 conv nets, G 4.51 M, D 4.31 M (28 px only)
lsgan        Mao et al. 2017                            DCGAN nets, least-squares loss
acgan        Odena et al. 2017                          DCGAN nets, class-conditional G, class head on D
sgan         Odena 2016                                 DCGAN nets, (K+1)-way D trained with few labels
===========  =========================================  ==============================================

Every module provides ``PAPER``, ``OBJECTIVE`` ("gan", "acgan" or "sgan"), ``defaults(spec)``
(optimiser, batch size, loss, latent) and ``build(spec, latent_dim, latent, width, pack,
minibatch_disc) -> (Generator, Discriminator)``; ``spec`` comes from
:func:`gan_eval_models.datasets.dataset_spec`.
"""

import importlib

from gan_eval.errors import GanEvalError

MODELS = {
    "gan2014": "gan_eval_models.models.gan2014",
    "dcgan": "gan_eval_models.models.dcgan",
    "dcgan-small": "gan_eval_models.models.dcgan_small",
    "dcgan-veegan": "gan_eval_models.models.dcgan_veegan",
    "lsgan": "gan_eval_models.models.lsgan",
    "acgan": "gan_eval_models.models.acgan",
    "sgan": "gan_eval_models.models.sgan",
}


def check_name(name):
    if name not in MODELS:
        raise GanEvalError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return name


def get_model(name):
    """The module of model family `name`."""
    return importlib.import_module(MODELS[check_name(name)])


def build_models(name, spec, latent_dim=None, latent=None, width=None, pack=1, minibatch_disc=False):
    """(G, D) of family `name` for data `spec`; None arguments take the family's defaults."""
    module = get_model(name)
    d = module.defaults(spec)
    return module.build(
        spec,
        latent_dim=latent_dim if latent_dim is not None else d["latent_dim"],
        latent=latent if latent is not None else d["latent"],
        width=width if width is not None else d["width"],
        pack=pack,
        minibatch_disc=minibatch_disc,
    )


__all__ = ["MODELS", "build_models", "check_name", "get_model"]
