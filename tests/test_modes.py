"""Mode-coverage probes on constructed samples whose counts and KL are known in closed form.

Reference values are hand-derived counts and KL(p || uniform) = sum p log(K p); the KL is also
checked against scipy.stats.entropy(p, u) as independent code.
"""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from gan_eval import GanEvalError
from gan_eval.metrics.modes import kl_to_uniform, mode_coverage, stacked_mnist_modes

RING = np.array([[math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)] for i in range(8)])
GRID = np.array([[i, j] for i in range(-4, 5, 2) for j in range(-4, 5, 2)], dtype=float)
STD = 0.05


def around(centres, per_mode, radius_std, rng):
    """`per_mode` points per centre at distance radius_std * STD in random directions."""
    angles = rng.uniform(0, 2 * math.pi, size=(len(centres), per_mode))
    offs = radius_std * STD * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    return (centres[:, None, :] + offs).reshape(-1, 2)


def test_all_modes_uniform():
    x = around(GRID, 40, 2.0, np.random.default_rng(0))
    r = mode_coverage(x, GRID, STD)
    assert r["modes_captured"] == 25 and r["n_modes"] == 25 and r["n_samples"] == 1000
    assert r["high_quality_fraction"] == 1.0
    assert r["histogram"].tolist() == [40] * 25
    assert r["reverse_kl"] == pytest.approx(0.0, abs=1e-12)


def test_one_mode_is_max_kl():
    x = around(RING[3:4], 500, 1.0, np.random.default_rng(1))
    r = mode_coverage(x, RING, STD)
    assert r["modes_captured"] == 1
    assert r["histogram"].tolist() == [0, 0, 0, 500, 0, 0, 0, 0]
    assert r["high_quality_fraction"] == 1.0
    assert r["reverse_kl"] == pytest.approx(math.log(8), rel=1e-12)


def test_off_mode_noise_lowers_quality_not_coverage():
    rng = np.random.default_rng(2)
    good = around(RING, 10, 2.5, rng)                     # 80 high-quality points, 10 per mode
    bad = around(RING, 15, 3.5, rng)                      # 120 points outside 3 std
    r = mode_coverage(np.concatenate([good, bad]), RING, STD)
    assert r["modes_captured"] == 8
    assert r["high_quality_fraction"] == pytest.approx(80 / 200, abs=0)
    assert r["histogram"].tolist() == [10] * 8
    assert r["reverse_kl"] == pytest.approx(0.0, abs=1e-12)


def test_uneven_histogram_kl_matches_closed_form_and_scipy():
    rng = np.random.default_rng(3)
    x = np.concatenate([around(GRID[:1], 30, 1.0, rng), around(GRID[1:2], 10, 1.0, rng)])
    r = mode_coverage(x, GRID, STD)
    expected = 0.75 * math.log(25 * 0.75) + 0.25 * math.log(25 * 0.25)
    assert r["reverse_kl"] == pytest.approx(expected, rel=1e-12)
    p = r["histogram"] / r["histogram"].sum()
    assert r["reverse_kl"] == pytest.approx(scipy.stats.entropy(p, np.full(25, 1 / 25)), rel=1e-12)
    assert r["modes_captured"] == 2
    # min_count: the mode with 10 high-quality samples is no longer captured at 11
    assert mode_coverage(x, GRID, STD, min_count=11)["modes_captured"] == 1


def test_threshold_is_in_standard_deviations():
    x = np.array([[2.9 * STD, 0.0], [3.1 * STD, 0.0]]) + GRID[12]
    assert mode_coverage(x, GRID, STD)["high_quality_fraction"] == 0.5
    assert mode_coverage(x, GRID, STD, threshold=3.2)["high_quality_fraction"] == 1.0
    assert mode_coverage(x, GRID, 2 * STD)["high_quality_fraction"] == 1.0


def test_nearest_mode_assignment():
    # a point near mode 7 of the ring is counted there even though it is far from all others
    x = RING[7:8] + np.array([[0.0, 0.5 * STD]])
    assert mode_coverage(x, RING, STD)["histogram"].tolist() == [0] * 7 + [1]


def test_no_high_quality_sample_gives_log_k_not_nan():
    x = np.zeros((50, 2)) + 10.0
    r = mode_coverage(x, RING, STD)
    assert r["modes_captured"] == 0 and r["high_quality_fraction"] == 0.0
    assert r["reverse_kl"] == pytest.approx(math.log(8))


def test_kl_to_uniform_bounds():
    assert kl_to_uniform([5, 5, 5]) == pytest.approx(0.0, abs=1e-15)
    assert kl_to_uniform([0, 7, 0]) == pytest.approx(math.log(3))
    with pytest.raises(GanEvalError, match="histogram entries"):
        kl_to_uniform([1, -1])
    with pytest.raises(GanEvalError, match="non-empty 1-D"):
        kl_to_uniform([])


@pytest.mark.parametrize("kwargs, message", [
    ({"samples": np.zeros((4, 3))}, "feature dimension mismatch"),
    ({"samples": np.array([[np.nan, 0.0]])}, "NaN or infinite"),
    ({"samples": np.zeros((0, 2))}, "at least 1 samples"),
    ({"std": 0.0}, "std must be a positive"),
    ({"std": "wide"}, "std must be a positive"),
    ({"threshold": -1}, "threshold must be a positive"),
    ({"min_count": 0}, "min_count must be an integer >= 1"),
])
def test_bad_inputs(kwargs, message):
    args = {"samples": RING, "centres": RING, "std": STD, **kwargs}
    with pytest.raises(GanEvalError, match=message):
        mode_coverage(**args)


class DigitFromPixel(torch.nn.Module):
    """A stand-in classifier: the digit is written in the image's top-left pixel as 20 * digit."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        digit = torch.round(x[:, 0, 0, 0] * 255 / 20).long()
        return torch.nn.functional.one_hot(digit, 10).float() + self.dummy


def stacked(triples):
    images = np.zeros((len(triples), 28, 28, 3), dtype=np.uint8)
    for i, t in enumerate(triples):
        images[i, 0, 0, :] = 20 * np.asarray(t)
    return images


def test_stacked_mnist_all_modes_once():
    triples = [(a, b, c) for a in range(10) for b in range(10) for c in range(10)]
    r = stacked_mnist_modes(stacked(triples), DigitFromPixel(), batch_size=64)
    assert r["modes_covered"] == 1000 and r["n_modes"] == 1000 and r["n_samples"] == 1000
    assert r["kl"] == pytest.approx(0.0, abs=1e-12)
    assert r["histogram"].tolist() == [1] * 1000


def test_stacked_mnist_channel_order_and_collapse():
    r = stacked_mnist_modes(stacked([(1, 2, 3)] * 9 + [(3, 2, 1)]), DigitFromPixel())
    assert r["modes_covered"] == 2
    assert r["histogram"][123] == 9 and r["histogram"][321] == 1
    expected = 0.9 * math.log(1000 * 0.9) + 0.1 * math.log(1000 * 0.1)
    assert r["kl"] == pytest.approx(expected, rel=1e-12)
    one = stacked_mnist_modes(stacked([(7, 7, 7)] * 5), DigitFromPixel())
    assert one["modes_covered"] == 1 and one["kl"] == pytest.approx(math.log(1000))


def test_stacked_mnist_float_input_and_train_flag_restored():
    clf = DigitFromPixel().train()
    images = stacked([(4, 5, 6)]).astype(np.float64) / 255
    assert stacked_mnist_modes(images, clf)["histogram"][456] == 1
    assert clf.training


def test_stacked_mnist_bad_inputs():
    clf = DigitFromPixel()
    with pytest.raises(GanEvalError, match=r"shape \(n, 28, 28, 3\)"):
        stacked_mnist_modes(np.zeros((2, 3, 28, 28), np.uint8), clf)
    with pytest.raises(GanEvalError, match=r"lie in \[0, 1\]"):
        stacked_mnist_modes(np.full((2, 28, 28, 3), 2.0), clf)
    with pytest.raises(GanEvalError, match="torch.nn.Module"):
        stacked_mnist_modes(np.zeros((2, 28, 28, 3), np.uint8), lambda x: x)

    class Wrong(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(len(x), 3)

    with pytest.raises(GanEvalError, match=r"\(batch, 10\) logits"):
        stacked_mnist_modes(np.zeros((2, 28, 28, 3), np.uint8), Wrong())


def test_samples_of_the_mixture_itself():
    """Closed form: a 2-D Gaussian lies within 3σ of its mean with probability 1 - e^(-9/2)."""
    rng = np.random.default_rng(4)
    n = 400_000
    x = RING[rng.integers(0, 8, n)] + STD * rng.standard_normal((n, 2))
    r = mode_coverage(x, RING, STD)
    assert r["modes_captured"] == 8
    assert r["high_quality_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=1e-3)  # ~6 binomial s.d.
    assert r["reverse_kl"] < 1e-4  # uniform up to sampling noise (about (K-1)/(2n) nats)
