"""Dataset loaders: MNIST on the shared files, CIFAR-10 on a synthetic file written here,
the 2-D mixtures, Stacked MNIST, the download helper (file:// URLs, no network)."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_eval.errors import GanEvalError
from gan_eval_models.datasets import dataset_spec, get_dataset, grid, ring
from gan_eval_models.datasets.cifar10 import load_cifar10
from gan_eval_models.datasets.download import download, file_hash
from gan_eval_models.datasets.mnist import load_mnist
from gan_eval_models.datasets.stacked_mnist import load_stacked_mnist



pytestmark = pytest.mark.usefixtures("one_thread")



# Published per-class counts of MNIST (LeCun et al.; e.g. torchvision's documentation).
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_counts_and_label_histogram(mnist_dir):
    """Sizes and class histograms equal the published MNIST numbers."""
    images, labels = load_mnist(str(mnist_dir), "train")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == TRAIN_COUNTS
    images, labels = load_mnist(str(mnist_dir), "test")
    assert images.shape == (10000, 28, 28)
    assert np.bincount(labels).tolist() == TEST_COUNTS
    assert images.max() == 255 and images.min() == 0


def test_mnist_env_variable_and_subfolder(tmp_path, monkeypatch, mnist_dir):
    monkeypatch.setenv("GAN_EVAL_DATA", str(mnist_dir))
    assert load_mnist(None, "test")[0].shape == (10000, 28, 28)
    (tmp_path / "mnist").symlink_to(Path(mnist_dir).resolve())
    assert load_mnist(str(tmp_path), "test")[0].shape == (10000, 28, 28)


def test_mnist_wrong_md5_names_the_file(tmp_path):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes(b"not mnist")
    with pytest.raises(GanEvalError, match="t10k-images-idx3-ubyte.gz: md5 is"):
        load_mnist(str(tmp_path), "test")


def test_mnist_missing_file_and_bad_split(tmp_path, mnist_dir):
    with pytest.raises(GanEvalError, match="t10k-images-idx3-ubyte.gz not found"):
        load_mnist(str(tmp_path), "test")
    with pytest.raises(GanEvalError, match="does not exist"):
        load_mnist(str(tmp_path / "nowhere"), "test")
    with pytest.raises(GanEvalError, match="split must be one of"):
        load_mnist(str(mnist_dir), "valid")


def _write_cifar(folder, n=4):
    """Synthetic CIFAR-10 batches: red plane 10, green 20, blue 30, and one marked pixel per image."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data = np.repeat(np.array([10, 20, 30], np.uint8), 1024)[None].repeat(n, 0)
        data[:, 1024 + 5 * 32 + 7] = 200  # green channel, row 5, column 7
        labels = [(i + j) % 10 for j in range(n)]
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x"}, f)


def test_cifar10_synthetic_layout(tmp_path):
    """Rows of 3072 bytes are R, G, B planes of 32×32, row-major (the format's definition)."""
    _write_cifar(tmp_path / "cifar-10-batches-py")
    images, labels = load_cifar10(str(tmp_path), "train")
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8 and labels.dtype == np.int64
    assert (images[:, 0, 0] == [10, 20, 30]).all()
    assert (images[:, 5, 7, 1] == 200).all() and (images[:, 7, 5, 1] == 20).all()
    assert labels[:4].tolist() == [0, 1, 2, 3] and labels[4:8].tolist() == [1, 2, 3, 4]
    images, labels = load_cifar10(str(tmp_path), "test")
    assert images.shape == (4, 32, 32, 3)
    ds = get_dataset("cifar10", str(tmp_path), "test", size=16)
    assert ds.images.shape == (4, 16, 16, 3) and len(ds) == 4
    x, y = ds[0]
    assert x.shape == (16, 16, 3) and x.dtype == torch.uint8 and y == 5


def test_cifar10_errors(tmp_path):
    with pytest.raises(GanEvalError, match="data_batch_1"):
        load_cifar10(str(tmp_path), "train")
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"garbage")
    with pytest.raises(GanEvalError, match="cifar-10-python.tar.gz: md5 is"):
        load_cifar10(str(tmp_path), "train")
    bad = tmp_path / "bad"
    _write_cifar(bad)
    (bad / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(GanEvalError, match="test_batch: CIFAR-10 batch has data"):
        load_cifar10(str(bad), "test")


def test_ring_and_grid_centres():
    r = ring()
    assert r.centres.shape == (8, 2) and r.centres.dtype == np.float64 and r.std == 0.01
    np.testing.assert_allclose(np.hypot(*r.centres.T), 1.0, atol=1e-15)
    angles = np.sort(np.mod(np.degrees(np.arctan2(r.centres[:, 1], r.centres[:, 0])), 360))
    np.testing.assert_allclose(angles, np.arange(0, 360, 45), atol=1e-12)
    g = grid()
    assert g.std == 0.05 and g.centres.shape == (25, 2)
    assert {tuple(c) for c in g.centres} == {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    r3 = ring(n_modes=3, radius=2.0, std=0.5)
    np.testing.assert_allclose(r3.centres[1], [2 * np.cos(2 * np.pi / 3), 2 * np.sin(2 * np.pi / 3)])
    assert dataset_spec("ring", n_modes=3) == {"kind": "points", "shape": (2,), "n_classes": 3}


def test_mixture_sampling_and_mode_counts():
    """Offsets from the component centre are N(0, σ²): sample std within 3% of σ; 3σ rule."""
    g = grid()
    x, k = g.sample_with_labels(20000, torch.Generator().manual_seed(0), dtype=torch.float64)
    offsets = x.numpy() - g.centres[k.numpy()]
    assert abs(offsets.std() / 0.05 - 1) < 0.03 and abs(offsets.mean()) < 0.002
    assert np.bincount(k.numpy(), minlength=25).min() > 600  # equal weights: ~800 each
    again = g.sample(20000, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.equal(again, x)  # seeded: the same draw again
    r = ring()
    pts = np.concatenate([r.centres[:3], r.centres[:1] + [0.029, 0.0], [[0.0, 0.0], [r.centres[4, 0] + 0.031, r.centres[4, 1]]]])
    assert r.assign(pts).tolist() == [0, 1, 2, 0, -1, -1]
    c = r.mode_counts(pts)  # gan_eval.mode_coverage on the mixture's centres and std
    assert c["modes_captured"] == 3 and c["histogram"][0] == 2 and c["high_quality_fraction"] == pytest.approx(4 / 6)


def test_dataset_names_and_parameters():
    with pytest.raises(GanEvalError, match="known datasets: mnist, cifar10, stacked-mnist, ring, grid"):
        get_dataset("svhn")
    with pytest.raises(GanEvalError, match="takes no parameter"):
        get_dataset("ring", side=3)
    with pytest.raises(GanEvalError, match="std must be a positive"):
        ring(std=0)
    with pytest.raises(GanEvalError, match="n_modes must be a positive integer"):
        ring(n_modes=2.5)


def test_stacked_mnist_channels_are_digits_of_the_mode(mnist_dir):
    """Each channel equals an MNIST training digit whose label is the matching decimal digit of the mode."""
    digits, labels = load_mnist(str(mnist_dir), "train")
    images, modes = load_stacked_mnist(str(mnist_dir), "train", n=50, seed=3)
    assert images.shape == (50, 28, 28, 3) and images.dtype == np.uint8 and modes.dtype == np.int64
    assert modes.min() >= 0 and modes.max() < 1000
    flat = digits.reshape(len(digits), -1)
    for i in range(5):
        for c, place in enumerate((100, 10, 1)):
            matches = np.flatnonzero((flat == images[i, :, :, c].reshape(-1)).all(1))
            assert len(matches) >= 1
            assert (modes[i] // place) % 10 in set(labels[matches].tolist())
    again, modes2 = load_stacked_mnist(str(mnist_dir), "train", n=50, seed=3)
    assert np.array_equal(again, images) and np.array_equal(modes, modes2)
    other, _ = load_stacked_mnist(str(mnist_dir), "train", n=50, seed=4)
    assert not np.array_equal(other, images)
    big, _ = load_stacked_mnist(str(mnist_dir), "test", n=4, size=32)
    assert big.shape == (4, 32, 32, 3)


def test_download_helper_with_file_urls(tmp_path):
    """Mirrors tried in order; a wrong hash fails a mirror; the file appears only when verified."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.bin").write_bytes(b"hello gan-eval")
    (src / "bad.bin").write_bytes(b"tampered")
    md5 = file_hash(src / "good.bin")
    dest = tmp_path / "cache"
    urls = [(src / "missing.bin").as_uri(), (src / "bad.bin").as_uri(), (src / "good.bin").as_uri()]
    path = download("data.bin", urls, dest, md5=md5, quiet=True)
    assert path == dest / "data.bin" and path.read_bytes() == b"hello gan-eval"
    assert sorted(p.name for p in dest.iterdir()) == ["data.bin"]  # no temporary files left
    with pytest.raises(GanEvalError, match="could not download other.bin .*missing.bin.*md5 mismatch"):
        download("other.bin", urls[:2], dest, md5=md5, quiet=True)
    assert not (dest / "other.bin").exists()
    assert sorted(p.name for p in dest.iterdir()) == ["data.bin"]
