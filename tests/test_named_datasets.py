"""Dataset names (mnist-test, mnist-train[:1000], cifar10-test, ...) and idx files as inputs.

The images a name gives are checked against the idx reader on the same files (and, for CIFAR-10,
against synthetic batches written in the python-pickle format). The commands are checked against
the same images passed as .npy files: a name must give the same numbers as its pixels. The
network is the cheap stand-in of `_score_data` (only the plumbing is under test).
"""

import json
import os
import pickle
import shutil
import urllib.error
import warnings

import numpy as np
import pytest

from _cli import run_cli as run
from _score_data import install_fake_net
from gan_eval import GanEvalError
from gan_eval.datasets import open_dataset, parse_name
from gan_eval.idx import read_idx
from gan_eval.inputs import open_input


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="FID from")
        yield


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return {"train": read_idx(mnist_dir / "train-images-idx3-ubyte.gz"),
            "test": read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")}


def _offline(*args, **kwargs):
    raise urllib.error.URLError("offline")


def test_parse_names_slices_and_aliases():
    assert parse_name("mnist-train") == ("mnist-train", slice(None, None))
    assert parse_name("mnist-train[:10000]") == ("mnist-train", slice(None, 10000))
    assert parse_name("cifar10-test[5:-5]") == ("cifar10-test", slice(5, -5))
    assert parse_name("mnist:validation") == ("mnist-train", slice(50000, None))
    assert parse_name("mnist:train") == ("mnist-train", slice(None, 50000))
    for not_a_name in ("real/", "fake", "samples.npz", "cache:abc", "train-images-idx3-ubyte.gz", 3):
        assert parse_name(not_a_name) is None
    for bad in ("mnist-tain", "mnist-train[5]", "mnist-train[::2]", "mnist-train[a:b]", "cifar10-val", "mnist:everything"):
        with pytest.raises(GanEvalError, match="nor a dataset name"):
            parse_name(bad)


def test_mnist_names_give_the_idx_images(mnist_dir, mnist):
    src = open_input("mnist-test[:5]", mnist_dir)
    assert src.name == "mnist-test[0:5]" and len(src) == 5
    np.testing.assert_array_equal(src.array, mnist["test"][:5])
    np.testing.assert_array_equal(src.load(0), np.repeat(mnist["test"][0][:, :, None], 3, axis=2))
    np.testing.assert_array_equal(open_input("mnist-train[-3:]", mnist_dir).array, mnist["train"][-3:])
    np.testing.assert_array_equal(open_input("mnist:validation", mnist_dir).array, mnist["train"][50000:])
    assert len(open_input("mnist-test", mnist_dir)) == 10000 and open_input("mnist-test", mnist_dir).name == "mnist-test"
    # an idx file is an input of its own
    idx = open_input(mnist_dir / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(idx.array, mnist["test"])
    with pytest.raises(GanEvalError, match=r"shape \(10000,\), not images"):
        open_input(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(GanEvalError, match="selects no images"):
        open_input("mnist-test[20000:]", mnist_dir)


def test_fingerprint_covers_name_slice_and_files(mnist_dir, tmp_path):
    fp = lambda text, d=mnist_dir: open_dataset(text, d).fingerprint()  # noqa: E731
    assert fp("mnist-test[:5]") == fp("mnist-test[0:5]") == fp("mnist-test[:-9995]")
    assert len({fp("mnist-test[:5]"), fp("mnist-test[1:6]"), fp("mnist-test"), fp("mnist-train[:5]")}) == 4
    copy = tmp_path / "mnist"
    copy.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy2(mnist_dir / name, copy / name)
    before = fp("mnist-test[:5]", copy)
    assert before != fp("mnist-test[:5]")  # other files (path), same bytes
    os.utime(copy / "t10k-images-idx3-ubyte.gz", ns=(1, 1))
    assert fp("mnist-test[:5]", copy) != before


def test_missing_files_name_the_folder(tmp_path, monkeypatch, capsys, random_weights):
    code, out, err = run(["fid", "mnist-test", "mnist-train[:10]", "--data-dir", tmp_path], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("error: MNIST file t10k-images-idx3-ubyte.gz not found in " + str(tmp_path))
    # no folder given and offline: the download fails and says where to put the file
    monkeypatch.delenv("GAN_EVAL_DATA", raising=False)
    monkeypatch.setenv("GAN_EVAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("urllib.request.urlopen", _offline)
    code, out, err = run(["stats", "mnist-test[:10]", "-o", tmp_path / "s.npz", "--weights", random_weights, "-q"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "could not download t10k-images-idx3-ubyte.gz (offline?)" in err
    assert f"place it in {tmp_path / 'cache' / 'data' / 'mnist'}" in err  # downloads go under $GAN_EVAL_CACHE


def _write_cifar(folder, n=4):
    """CIFAR-10 python batches: image j of batch i has every red value 10 i + j, green 100, blue 200."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data = np.zeros((n, 3072), np.uint8)
        data[:, :1024] = (10 * i + np.arange(n))[:, None]
        data[:, 1024:2048], data[:, 2048:] = 100, 200
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": list(range(n)), b"batch_label": b"x"}, f)


def test_cifar10_names_from_python_batches(tmp_path, monkeypatch, capsys):
    _write_cifar(tmp_path / "c" / "cifar-10-batches-py")
    src = open_input("cifar10-test[1:3]", tmp_path / "c")
    assert src.array.shape == (2, 32, 32, 3) and src.name == "cifar10-test[1:3]"
    assert (src.array[:, 0, 0] == [[51, 100, 200], [52, 100, 200]]).all()
    train = open_input("cifar10-train", tmp_path / "c").array
    assert train.shape == (20, 32, 32, 3) and train[:, 0, 0, 0].tolist() == [10 * i + j for i in range(5) for j in range(4)]
    # GAN_EVAL_DATA may hold a cifar10/ subfolder beside the MNIST files
    _write_cifar(tmp_path / "data" / "cifar10")
    monkeypatch.setenv("GAN_EVAL_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("GAN_EVAL_CIFAR10", raising=False)
    assert len(open_input("cifar10-test")) == 4
    # a folder without the batches: one error line naming it
    (tmp_path / "empty").mkdir()
    code, out, err = run(["fid", "cifar10-test", "cifar10-train", "--data-dir", tmp_path / "empty"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: CIFAR-10 file test_batch (or cifar-10-python.tar.gz) not found in {tmp_path / 'empty'}")


@pytest.fixture
def as_npy(tmp_path, mnist):
    """The first images of each split as .npy files, to run the same command on."""
    np.save(tmp_path / "test8.npy", mnist["test"][:8])
    np.save(tmp_path / "train8.npy", mnist["train"][:8])
    return tmp_path / "test8.npy", tmp_path / "train8.npy"


def _json(args, capsys):
    code, out, err = run(args + ["--json", "--quiet"], capsys)
    assert code == 0, err
    return json.loads(out)


def test_fid_score_stats_take_names(mnist_dir, as_npy, random_weights, monkeypatch, capsys, tmp_path):
    net = install_fake_net(monkeypatch)
    w = ["--weights", random_weights, "--num-workers", "0"]
    by_file = _json(["fid", *as_npy, *w], capsys)
    by_name = _json(["fid", "mnist-test[:8]", "mnist-train[:8]", "--data-dir", mnist_dir, *w], capsys)
    assert by_name["fid"] == pytest.approx(by_file["fid"], rel=1e-9) and by_name["n1"] == 8
    # cached like a folder: the second run does not run the network; GAN_EVAL_DATA serves as --data-dir
    monkeypatch.setenv("GAN_EVAL_DATA", str(mnist_dir))
    seen = net.images
    again = _json(["fid", "mnist-test[:8]", "mnist-train[:8]", *w], capsys)
    assert net.images == seen and again["fid"] == by_name["fid"]
    small = ["--metrics", "fid,kid", "--kid-subsets", "3", "--kid-subset-size", "4"]
    s_file = _json(["score", *as_npy, *small, *w], capsys)
    s_name = _json(["score", "mnist-test[:8]", "mnist-train[:8]", *small, *w], capsys)
    assert s_name["fid"] == pytest.approx(s_file["fid"], rel=1e-9)
    assert s_name["kid"] == pytest.approx(s_file["kid"], rel=1e-9)
    _json(["stats", "mnist-train[:8]", "-o", tmp_path / "by_name.npz", *w], capsys)
    _json(["stats", as_npy[1], "-o", tmp_path / "by_file.npz", *w], capsys)
    with np.load(tmp_path / "by_name.npz") as a, np.load(tmp_path / "by_file.npz") as b:
        assert int(a["n"]) == 8
        np.testing.assert_allclose(a["mu"], b["mu"], rtol=1e-12)
        np.testing.assert_allclose(a["sigma"], b["sigma"], rtol=1e-12, atol=1e-12)


def test_parzen_takes_names(mnist_dir, mnist, tmp_path, capsys):
    np.save(tmp_path / "centres.npy", mnist["train"][:40])
    np.save(tmp_path / "test.npy", mnist["test"][10:30])
    common = ["--sigma", "0.2", "--n-centres", "40", "--device", "cpu", "--data-dir", mnist_dir]
    by_file = _json(["parzen", tmp_path / "centres.npy", tmp_path / "test.npy", *common], capsys)
    by_name = _json(["parzen", "mnist-train[:40]", "mnist-test[10:30]", *common], capsys)
    assert by_name["n_test"] == 20 and by_name["mean"] == pytest.approx(by_file["mean"], rel=1e-12)


def test_streaming_reference_and_python_api_take_names(mnist_dir, mnist, random_weights, monkeypatch):
    import torch

    import gan_eval
    from gan_eval.streaming import FID

    install_fake_net(monkeypatch)
    monkeypatch.setenv("GAN_EVAL_DATA", str(mnist_dir))
    fake = torch.from_numpy(mnist["train"][:8].copy())[:, None]  # uint8 N x 1 x 28 x 28
    m = FID(reference="mnist-test[:8]", weights=random_weights, device="cpu", quiet=True)
    m.update(fake, real=False)
    one_shot = gan_eval.fid("mnist-test[:8]", "mnist-train[:8]", weights=random_weights, progress=False, quiet=True)
    assert m.counts["real"] == 8 and float(m.compute()) == pytest.approx(one_shot["fid"], rel=1e-6)
    explicit = gan_eval.open_dataset("mnist-train[:8]", data_dir=mnist_dir)
    again = gan_eval.fid("mnist-test[:8]", explicit, weights=random_weights, progress=False, quiet=True)
    assert again["fid"] == pytest.approx(one_shot["fid"], rel=1e-9)
