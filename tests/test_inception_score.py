"""Inception Score: closed forms, the seeded shuffle, and two independent implementations of the
OpenAI formula (plain numpy/scipy written here; torch-fidelity's when installed)."""

import numpy as np
import pytest
import torch
from scipy.special import softmax

from gan_eval.errors import GanEvalError
from gan_eval.metrics.inception_score import inception_score, inception_score_from_probs


def openai_inception_score(probs, splits):
    """The formula of improved-gan's inception_score.py, in plain numpy (no shuffle)."""
    scores = []
    n = probs.shape[0]
    for i in range(splits):
        part = probs[i * n // splits:(i + 1) * n // splits]
        kl = part * (np.log(part) - np.log(np.mean(part, 0, keepdims=True)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return np.mean(scores), np.std(scores)


def balanced_one_hot(classes, per_split, splits):
    """One-hot rows where every split holds each class equally often."""
    labels = np.tile(np.arange(classes), per_split * splits)
    return np.eye(classes)[labels]


@pytest.mark.parametrize("classes", [2, 10, 128])
def test_uniform_one_hot_predictions_score_number_of_classes(classes):
    probs = balanced_one_hot(classes, per_split=2, splits=10)
    r = inception_score_from_probs(probs, splits=10, shuffle=False)
    assert r["mean"] == pytest.approx(classes, rel=1e-12)
    assert r["std"] == pytest.approx(0, abs=1e-9 * classes)
    # Near one-hot logits give the same score; huge logits underflow to exact zeros (0 log 0 = 0).
    for scale in (60.0, 1e4):
        r = inception_score(probs * scale, splits=10, shuffle=False)
        assert np.isfinite(r["values"]).all()
        assert r["mean"] == pytest.approx(classes, rel=1e-9)


def test_identical_predictions_score_one():
    row = np.random.default_rng(0).standard_normal(1008)
    r = inception_score(np.tile(row, (200, 1)))
    assert r["mean"] == pytest.approx(1.0, abs=1e-12)
    assert r["std"] == pytest.approx(0.0, abs=1e-12)


def test_matches_plain_numpy_openai_formula():
    logits = np.random.default_rng(1).standard_normal((1003, 1008)) * 4  # 1003: splits of unequal size
    ref_mean, ref_std = openai_inception_score(softmax(logits, axis=1), 10)
    r = inception_score(logits, splits=10, shuffle=False)
    assert r["mean"] == pytest.approx(ref_mean, rel=1e-12)
    assert r["std"] == pytest.approx(ref_std, rel=1e-9)
    assert len(r["values"]) == 10


def test_matches_torch_fidelity():
    isc = pytest.importorskip("torch_fidelity.metric_isc")
    logits = np.random.default_rng(2).standard_normal((500, 1008)) * 3
    ref = isc.isc_features_to_metric(torch.from_numpy(logits), splits=7, shuffle=False)
    r = inception_score(torch.from_numpy(logits).float(), splits=7, shuffle=False)
    assert r["mean"] == pytest.approx(ref["inception_score_mean"], rel=1e-6)
    assert r["std"] == pytest.approx(ref["inception_score_std"], rel=1e-4)


def test_probs_and_logits_entry_points_agree():
    logits = np.random.default_rng(3).standard_normal((300, 50)) * 2
    a = inception_score(logits)
    b = inception_score_from_probs(softmax(logits, axis=1).astype(np.float32))
    assert a["mean"] == pytest.approx(b["mean"], rel=1e-5)


def test_shuffle_is_seeded_and_documented():
    logits = np.random.default_rng(4).standard_normal((400, 30)) * 3
    a, b = inception_score(logits, seed=5), inception_score(logits, seed=5)
    assert np.array_equal(a["values"], b["values"])
    assert not np.array_equal(a["values"], inception_score(logits, seed=6)["values"])
    # The documented protocol: rows permuted by default_rng(seed).permutation(N), then split in order.
    manual = inception_score(logits[np.random.default_rng(5).permutation(400)], shuffle=False)
    np.testing.assert_allclose(a["values"], manual["values"], rtol=1e-14)
    # The default seed makes the score independent of the input order only through the shuffle:
    unshuffled = inception_score(logits, shuffle=False)
    assert not np.array_equal(a["values"], unshuffled["values"])


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: np.full((20, 5), np.nan), "NaN"),
        (lambda: np.zeros((9, 5)), "9 samples cannot be cut into 10 splits"),
        (lambda: np.zeros(50), "2-D"),
        (lambda: np.zeros((4, 5, 5)), "2-D"),
        (lambda: np.zeros((20, 1)), "at least 2 classes"),
    ],
)
def test_bad_logits(make, match):
    with pytest.raises(GanEvalError, match=match):
        inception_score(make())


def test_bad_probs_and_splits():
    with pytest.raises(GanEvalError, match="sum to 1"):
        inception_score_from_probs(np.full((20, 4), 0.3))
    with pytest.raises(GanEvalError, match=">= 0"):
        inception_score_from_probs(np.tile([1.5, -0.5], (20, 1)))
    with pytest.raises(GanEvalError, match="splits must be an integer >= 1"):
        inception_score(np.zeros((20, 4)), splits=0)
