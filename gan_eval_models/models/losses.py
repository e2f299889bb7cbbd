"""GAN objectives, computed from logits (softplus = −log σ(−·)) for numerical stability.

With D(x) = σ(l(x)) and l the discriminator's logit:

- discriminator (all sigmoid losses): L_D = ½ [E_x −log D(x) + E_z −log(1 − D(G(z)))]
  = ½ [E softplus(−l(x)) + E softplus(l(G(z)))]  (the ½ is the 2014 code's d_obj).
- ``minimax`` (saturating; Goodfellow et al. 2014, eq. 1): G minimises E log(1 − D(G(z)))
  = −E softplus(l(G(z))).
- ``non-saturating`` (same paper, §3): G maximises E log D(G(z)): L_G = E softplus(−l(G(z))).
- ``least-squares`` (Mao et al. 2017, eq. 2, 0-1 coding a=0, b=c=1) on the raw output l:
  L_D = ½ E (l(x) − 1)² + ½ E l(G(z))², L_G = ½ E (l(G(z)) − 1)².

Auxiliary-classifier GAN (Odena et al. 2017): D adds a class head; L_C is the cross-entropy of
the true class on real and on generated samples; D minimises L_D + ½(L_C^real + L_C^fake), G
minimises L_G + L_C^fake.

Semi-supervised GAN (Odena 2016; Salimans et al. 2016): D has K+1 logits, the last for "fake".
With p_fake(x) = softmax(l(x))_K: L_D = CE(labelled) + ½ [E_x −log(1 − p_fake(x)) + E_z −log p_fake(G(z))];
G: non-saturating −E log(1 − p_fake(G(z))), minimax E log p_fake(G(z)).
"""

import torch
import torch.nn.functional as F

from gan_eval.errors import GanEvalError

LOSSES = ("minimax", "non-saturating", "least-squares")


def check_loss(loss):
    if loss not in LOSSES:
        raise GanEvalError(f"unknown loss {loss!r}; known losses: {', '.join(LOSSES)}")
    return loss


def discriminator_loss(real, fake, loss):
    """L_D from the discriminator's outputs on a real and a generated batch (any shape)."""
    check_loss(loss)
    if loss == "least-squares":
        return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake**2).mean()
    return 0.5 * (F.softplus(-real).mean() + F.softplus(fake).mean())


def generator_loss(fake, loss):
    """L_G from the discriminator's outputs on a generated batch."""
    check_loss(loss)
    if loss == "minimax":
        return -F.softplus(fake).mean()
    if loss == "non-saturating":
        return F.softplus(-fake).mean()
    return 0.5 * ((fake - 1.0) ** 2).mean()


def acgan_discriminator_loss(real_out, y_real, fake_out, y_fake, loss):
    """D's loss for AC-GAN outputs (n, 1 + K): column 0 the source logit, the rest class logits."""
    adv = discriminator_loss(real_out[:, 0], fake_out[:, 0], loss)
    cls = 0.5 * (F.cross_entropy(real_out[:, 1:], y_real) + F.cross_entropy(fake_out[:, 1:], y_fake))
    return adv + cls


def acgan_generator_loss(fake_out, y_fake, loss):
    return generator_loss(fake_out[:, 0], loss) + F.cross_entropy(fake_out[:, 1:], y_fake)


def _log_fake_and_real(logits):
    lse = torch.logsumexp(logits, dim=1)
    return logits[:, -1] - lse, torch.logsumexp(logits[:, :-1], dim=1) - lse


def sgan_discriminator_loss(labelled_out, y_labelled, real_out, fake_out):
    """D's loss for SGAN outputs (n, K + 1); the labelled batch uses classes 0..K−1."""
    supervised = F.cross_entropy(labelled_out, y_labelled)
    _, log_real = _log_fake_and_real(real_out)
    log_fake, _ = _log_fake_and_real(fake_out)
    return supervised + 0.5 * (-log_real.mean() - log_fake.mean())


def sgan_generator_loss(fake_out, loss):
    if loss == "least-squares" or loss not in LOSSES:
        raise GanEvalError(f"sgan supports the losses minimax and non-saturating, not {loss!r}")
    log_fake, log_real = _log_fake_and_real(fake_out)
    return log_fake.mean() if loss == "minimax" else -log_real.mean()
