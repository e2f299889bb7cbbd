"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs").

    IS = exp( E_x KL( p(y|x) || p(y) ) ),   p(y) = E_x p(y|x)

following OpenAI's reference code (improved-gan, ``inception_score.py``): the class posteriors
are the softmax of the 1008 Inception logits, the N images are cut into ``splits`` = 10 parts
(part s holds rows ``s*N//splits`` to ``(s+1)*N//splits - 1``), p(y) is the mean posterior of the
part, and the score is the mean and the *population* standard deviation (numpy's ``np.std``) of
the per-part scores. Before splitting, the rows are shuffled with
``np.random.default_rng(seed).permutation(N)`` (``seed`` = ``defaults.IS_SEED`` = 0), so the
score does not depend on the order the images were listed in; ``shuffle=False`` keeps the order
(OpenAI's code does not shuffle).

Computed in float64 with log-softmax; terms with p(y|x) = 0 contribute 0 (0 log 0 = 0).
"""

import numpy as np
import torch

from .. import defaults
from ..errors import GanEvalError
from ._checks import as_float_matrix, positive_int

__all__ = ["inception_score", "inception_score_from_probs"]

# Rows of a probability input may be off from 1 by this much (float32 softmax output is ~1e-7 off).
PROB_SUM_TOLERANCE = 1e-4


def inception_score(logits, splits=defaults.IS_SPLITS, seed=defaults.IS_SEED, shuffle=True):
    """Inception Score from classifier logits.

    Parameters
    ----------
    logits : array-like or tensor, (N, C)
        Class logits, one row per image. For the standard IS these are the 1008 logits of the
        2015 TF-Inception network computed without the bias (pool3 · Wᵀ), as OpenAI's code does.
    splits : int, default 10
        Number of parts; N must be at least `splits`.
    seed : int, default 0
        Seed of the shuffle, ``np.random.default_rng(seed).permutation(N)``.
    shuffle : bool, default True
        False scores the rows in the order given.

    Returns
    -------
    dict with ``mean`` and ``std`` (floats; IS lies in [1, C]) and ``values``, the float64 array
    of the `splits` per-part scores.
    """
    x = _as_rows(logits, "logits", splits)
    return _score(torch.log_softmax(x, dim=1), splits, seed, shuffle)


def inception_score_from_probs(probs, splits=defaults.IS_SPLITS, seed=defaults.IS_SEED, shuffle=True):
    """Inception Score from class probabilities (rows >= 0 summing to 1 within 1e-4; rows are
    renormalised to sum to exactly 1). Other parameters and result as in :func:`inception_score`.
    """
    p = _as_rows(probs, "probs", splits)
    if bool((p < 0).any()):
        raise GanEvalError("probs: probabilities must be >= 0")
    sums = p.sum(dim=1, keepdim=True)
    worst = float((sums - 1).abs().max())
    if worst > PROB_SUM_TOLERANCE:
        raise GanEvalError(f"probs: each row must sum to 1 (a row is off by {worst:.3g}); pass logits to "
                           "inception_score() instead")
    return _score(torch.log(p / sums), splits, seed, shuffle)


def _as_rows(x, name, splits):
    splits = positive_int(splits, "splits")
    ndim = x.ndim if isinstance(x, (np.ndarray, torch.Tensor)) else np.ndim(x)
    if ndim != 2:
        raise GanEvalError(f"{name}: expected a 2-D array (samples x classes), got {ndim} dimension(s)")
    t = as_float_matrix(x, name, dtype=torch.float64)
    if t.shape[1] < 2:
        raise GanEvalError(f"{name}: needs at least 2 classes, got {t.shape[1]}")
    if t.shape[0] < splits:
        raise GanEvalError(f"{name}: {t.shape[0]} samples cannot be cut into {splits} splits")
    return t


def _score(log_p, splits, seed, shuffle):
    n = log_p.shape[0]
    if shuffle:
        log_p = log_p[torch.from_numpy(np.random.default_rng(seed).permutation(n)).to(log_p.device)]
    p = log_p.exp()
    scores = np.empty(splits)
    for s in range(splits):
        part = slice(s * n // splits, (s + 1) * n // splits)
        p_s, log_p_s = p[part], log_p[part]
        # log of the mean posterior, without underflow for tiny probabilities
        log_marginal = torch.logsumexp(log_p_s, dim=0) - np.log(log_p_s.shape[0])
        terms = torch.where(p_s > 0, p_s * (log_p_s - log_marginal), torch.zeros((), dtype=p.dtype))
        scores[s] = float(terms.sum(dim=1).mean().exp())
    return {"mean": float(scores.mean()), "std": float(scores.std()), "values": scores}
