"""The committed MNIST classifier that counts Stacked MNIST modes.

Reference values: the MNIST test labels (accuracy >= 99.0%, the bar the weights were trained
to) and the true modes of Stacked MNIST images built from labelled test digits.
"""

import numpy as np
import pytest

from gan_eval.errors import WeightsError
from gan_eval.metrics.modes import stacked_mnist_modes
from gan_eval_models.classifier import WEIGHTS_PATH, WEIGHTS_SHA256, file_sha256, load_classifier, predict_digits
from gan_eval_models.datasets.mnist import load_mnist
from gan_eval_models.datasets.stacked_mnist import load_stacked_mnist


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


def test_weights_are_small_and_match_the_recorded_hash():
    assert WEIGHTS_PATH.stat().st_size < 2 * 1024 * 1024
    assert file_sha256(WEIGHTS_PATH) == WEIGHTS_SHA256


@pytest.mark.slow
def test_accuracy_on_the_mnist_test_set(classifier, mnist_dir):
    images, labels = load_mnist(mnist_dir, "test")
    accuracy = float((predict_digits(classifier, images) == labels).mean())
    assert accuracy >= 0.990, f"test accuracy {accuracy:.4f}"


@pytest.mark.slow
def test_stacked_mnist_modes_of_real_images(classifier, mnist_dir):
    """Real Stacked MNIST: the predicted mode histogram is the true one up to classifier errors."""
    images, modes = load_stacked_mnist(mnist_dir, "test", n=3000, seed=0)
    r = stacked_mnist_modes(images, classifier)
    true_hist = np.bincount(modes, minlength=1000)
    assert r["n_samples"] == 3000
    # each misread image moves one count: with >= 99% per digit, at most ~3% of images move
    assert np.abs(r["histogram"] - true_hist).sum() <= 2 * 0.04 * 3000
    assert abs(r["modes_covered"] - np.count_nonzero(true_hist)) <= 30


def test_hash_mismatch_is_refused(tmp_path):
    bad = tmp_path / "weights.pt"
    data = bytearray(WEIGHTS_PATH.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match the expected"):
        load_classifier(path=bad)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_classifier(path=tmp_path / "nothing.pt")
    foreign = tmp_path / "foreign.pt"
    foreign.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="not a weight file for the MNIST classifier"):
        load_classifier(path=foreign, sha256=None)
