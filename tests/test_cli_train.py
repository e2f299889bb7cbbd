"""`gan-eval train` and `gan-eval sample` through the CLI entry point (exit codes, files, messages)."""

import json

import numpy as np
import pytest
from PIL import Image

from _cli import run_cli as run



pytestmark = pytest.mark.usefixtures("one_thread")



def test_train_and_sample_ring(tmp_path, capsys):
    code, out, err = run(["train", "gan2014", "--dataset", "ring", "--steps", "2", "--out", str(tmp_path / "r"),
                          "--width", "16", "--eval-samples", "100", "--quiet", "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["steps"] == 2 and summary["metrics"]["n_modes"] == 8
    code, out, err = run(["sample", str(tmp_path / "r"), "-n", "7", "-o", str(tmp_path / "pts.npz"), "--json"], capsys)
    assert code == 0, err
    with np.load(tmp_path / "pts.npz") as z:
        assert list(z.keys()) == ["samples"] and z["samples"].shape == (7, 2) and z["samples"].dtype == np.float64
    code, out, err = run(["sample", str(tmp_path / "r"), "-n", "3", "-o", str(tmp_path / "pngs")], capsys)
    assert code == 2 and "2-D samples can only be written as .npz" in err
    code, out, err = run(["sample", str(tmp_path / "r"), "-n", "3", "-o", str(tmp_path / "pts.npz")], capsys)
    assert code == 2 and "exists; pass --overwrite" in err


def test_train_and_sample_mnist_png_and_npz(tmp_path, capsys, mnist_dir):
    run_dir = tmp_path / "m"
    code, out, err = run(["train", "gan2014", "--dataset", "mnist", "--steps", "1", "--out", str(run_dir), "--width", "32",
                          "--batch-size", "8", "--eval-samples", "20", "--data-dir", str(mnist_dir), "--quiet"], capsys)
    assert code == 0, err
    assert "trained gan2014 on mnist: 1 steps" in out and (run_dir / "samples_1.png").exists()
    code, out, err = run(["sample", str(run_dir), "-n", "5", "-o", str(tmp_path / "png"), "--seed", "3"], capsys)
    assert code == 0, err
    files = sorted((tmp_path / "png").iterdir())
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(5)]
    with Image.open(files[0]) as im:
        assert im.size == (28, 28) and im.mode == "L"
    code, out, err = run(["sample", str(run_dir), "-n", "5", "-o", str(tmp_path / "s.npz"), "--seed", "3",
                          "--truncation", "1.0"], capsys)
    assert code == 0, err
    with np.load(tmp_path / "s.npz") as z:
        images = z["images"]
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.uint8
    code, out, err = run(["sample", str(run_dir), "-n", "5", "-o", str(tmp_path / "s2"), "--format", "npz", "--seed", "3"], capsys)
    assert code == 0 and (tmp_path / "s2.npz").exists()
    with np.load(tmp_path / "s2.npz") as z:
        untruncated = z["images"]
    first = np.asarray(Image.open(files[0]))
    assert np.array_equal(first, untruncated[0, :, :, 0])  # PNG and npz hold the same pixels for one seed
    code, out, err = run(["sample", str(run_dir), "-n", "5", "-o", str(tmp_path / "t.npz"), "--truncation", "0"], capsys)
    assert code == 2 and "truncation must be a positive number" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "biggan", "--dataset", "ring"], "unknown model 'biggan'; known models: gan2014, dcgan, dcgan-small, dcgan-veegan, lsgan, acgan, sgan"),
        (["train", "dcgan", "--dataset", "imagenet"], "unknown dataset 'imagenet'; known datasets:"),
        (["train", "dcgan", "--dataset", "ring", "--loss", "hinge"], "unknown loss 'hinge'; known losses:"),
        (["train", "dcgan", "--dataset", "ring", "--pack", "0"], "--pack must be an integer >= 1"),
    ],
)
def test_bad_names_exit_2(tmp_path, capsys, args, message):
    code, out, err = run(args + ["--steps", "1", "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and f"error: {message}" in err
    assert not (tmp_path / "x").exists()


def test_refusals_exit_2(tmp_path, capsys):
    base = ["train", "gan2014", "--dataset", "ring", "--steps", "1", "--out", str(tmp_path / "r"), "--width", "8",
            "--eval-samples", "50", "--quiet"]
    assert run(base, capsys)[0] == 0
    code, out, err = run(base, capsys)
    assert code == 2 and "already holds a checkpoint" in err
    code, out, err = run(base + ["--resume", "--seed", "1"], capsys)
    assert code == 2 and "seed: 0 in the run, 1 now" in err
    code, out, err = run(["sample", str(tmp_path / "nothing"), "-n", "1", "-o", str(tmp_path / "o.npz")], capsys)
    assert code == 2
