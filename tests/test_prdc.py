"""Precision/recall and density/coverage against the reference `prdc` package (0.2,
``compute_prdc``), hand-made tie cases, and chunked against unchunked computation."""

import contextlib
import io

import numpy as np
import prdc as prdc_package
import pytest
import torch

from gan_eval.errors import GanEvalError
from gan_eval.metrics.prdc import density_coverage, prdc, precision_recall

SMALL = 50 * 50  # tiles of 50 x 50: sizes below are not multiples of 50


def reference(real, fake, k):
    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the sample counts
        return {key: float(v) for key, v in prdc_package.compute_prdc(real, fake, nearest_k=k).items()}


def sample(seed, n, m, d):
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((n, d)).astype(np.float32)
    fake = (rng.standard_normal((m, d)) * 1.2 + 0.15).astype(np.float32)
    return real, fake


@pytest.mark.parametrize("seed, n, m, d", [(0, 230, 197, 8), (1, 301, 420, 32), (2, 160, 160, 64)])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_equals_prdc_package(seed, n, m, d, k):
    real, fake = sample(seed, n, m, d)
    ref = reference(real, fake, k)
    assert prdc(real, fake, k) == ref  # float32, default tiles (one tile here)
    assert prdc(real, fake, k, max_elements=SMALL) == ref  # many tiles
    ref64 = reference(real.astype(np.float64), fake.astype(np.float64), k)
    assert prdc(real.astype(np.float64), fake, k, dtype=torch.float64, max_elements=SMALL) == ref64


def test_protocol_defaults_and_single_metric_functions():
    real, fake = sample(3, 250, 240, 16)
    r3, r5 = reference(real, fake, 3), reference(real, fake, 5)
    both = prdc(real, fake)  # k=None: precision/recall with k=3, density/coverage with k=5
    assert both == {"precision": r3["precision"], "recall": r3["recall"],
                    "density": r5["density"], "coverage": r5["coverage"]}
    assert precision_recall(real, fake) == {"precision": r3["precision"], "recall": r3["recall"]}
    assert density_coverage(real, fake, max_elements=SMALL) == {"density": r5["density"],
                                                               "coverage": r5["coverage"]}


def test_chunked_equals_unchunked_on_larger_sets():
    real, fake = sample(4, 700, 650, 128)
    whole = prdc(real, fake, max_elements=10**7)
    assert prdc(real, fake, max_elements=97 * 97) == whole
    assert prdc(torch.from_numpy(real), torch.from_numpy(fake), dtype="float64") == prdc(
        real, fake, dtype=np.float64, max_elements=SMALL)


def test_identical_and_far_apart_sets():
    real, _ = sample(5, 200, 1, 16)
    assert prdc(real, real.copy(), k=3) == pytest.approx(
        {"precision": 1.0, "recall": 1.0, "coverage": 1.0, "density": reference(real, real, 3)["density"]})
    assert prdc(real, real + 100) == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_tie_rules():
    # k=1, radii: every real point's nearest other real point is at distance 2.
    real = np.array([[0.0], [2.0], [10.0], [12.0]])
    on_sphere = np.array([[4.0], [6.0]])  # at distance exactly 2 from the ball around 2: outside
    assert precision_recall(real, on_sphere, k=1)["precision"] == 0.0
    assert precision_recall(real, on_sphere + [[-0.25], [0.0]], k=1)["precision"] == 0.5
    # A duplicate is a neighbour at distance 0: both copies get radius 0 and their balls hold nothing.
    real = np.array([[0.0], [0.0], [5.0], [9.0]])
    fake = np.array([[0.0], [1.0], [20.0]])  # 1.0 is exactly on the sphere (radius 4) around 5.0
    ours = prdc(real, fake, k=1)
    assert ours["precision"] == 0.0 and ours["coverage"] == 0.0
    assert ours == reference(real, fake, 1)


def test_device_option():
    real, fake = sample(6, 300, 280, 32)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        assert prdc(real, fake, 5, dtype="float64", device=device) == reference(
            real.astype(np.float64), fake.astype(np.float64), 5)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda r, f: prdc(r, f[:, :5]), "feature dimension mismatch: real_features has 8 .* fake_features has 5"),
        (lambda r, f: prdc(r[:5], f), "real_features: k=5 needs at least 6 samples, got 5"),
        (lambda r, f: precision_recall(r, f[:3]), "fake_features: k=3 needs at least 4 samples, got 3"),
        (lambda r, f: precision_recall(np.full_like(r, np.nan), f), "real_features: contains NaN"),
        (lambda r, f: density_coverage(r, np.where(f > 1, np.inf, f)), "fake_features: contains NaN or infinite"),
        (lambda r, f: prdc(r, f, k=0), "k must be an integer >= 1"),
        (lambda r, f: prdc(r, f, dtype="float16"), "dtype must be float32 or float64"),
        (lambda r, f: prdc(r[None], f), "expected a 2-D array"),
        (lambda r, f: prdc(r, f, max_elements=0), "max_elements must be an integer >= 1"),
    ],
)
def test_bad_input(call, match):
    real, fake = sample(7, 20, 20, 8)
    with pytest.raises(GanEvalError, match=match):
        call(real, fake)


def test_fake_set_smaller_than_k_is_fine_for_density_coverage():
    real, fake = sample(8, 30, 1, 4)
    assert set(density_coverage(real, fake)) == {"density", "coverage"}
