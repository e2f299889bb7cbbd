"""Input decoding: folders, zips, arrays, tensors, statistics files, and their bad cases."""

import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from gan_eval import GanEvalError
from gan_eval.inputs import ArraySource, FolderSource, StatisticsInput, ZipSource, load_images, open_input


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (5, 12, 10, 3), dtype=np.uint8)


def save_folder(folder, images):
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        Image.fromarray(im).save(folder / f"{i:02d}.png")
    return folder


def test_folder_is_recursive_sorted_and_lossless(tmp_path, images):
    save_folder(tmp_path / "a", images[:3])
    save_folder(tmp_path / "a" / "sub", images[3:])
    (tmp_path / "a" / "notes.txt").write_text("ignored")
    src = open_input(tmp_path / "a")
    assert isinstance(src, FolderSource) and len(src) == 5
    assert [p.name for p in src.files] == ["00.png", "01.png", "02.png", "00.png", "01.png"]
    np.testing.assert_array_equal(load_images(tmp_path / "a"), images)


def test_modes_converted_to_rgb(tmp_path):
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(gray, mode="L").save(tmp_path / "gray.png")
    Image.fromarray(gray, mode="L").convert("P").save(tmp_path / "palette.png")
    rgba = np.dstack([np.full((8, 8, 3), 200, np.uint8), np.full((8, 8), 7, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(gray, mode="L").save(tmp_path / "gray.jpg", quality=100)
    src = open_input(tmp_path)
    for i in range(len(src)):
        im = src.load(i)
        assert im.shape == (8, 8, 3) and im.dtype == np.uint8
    np.testing.assert_array_equal(src.load(src.files.index(tmp_path / "gray.png")), np.dstack([gray] * 3))
    np.testing.assert_array_equal(src.load(src.files.index(tmp_path / "rgba.png")), np.full((8, 8, 3), 200))


def test_zip_source(tmp_path, images):
    folder = save_folder(tmp_path / "imgs", images)
    with zipfile.ZipFile(tmp_path / "imgs.zip", "w") as z:
        for p in sorted(folder.glob("*.png"), reverse=True):
            z.write(p, arcname=f"x/{p.name}")
        z.writestr("readme.txt", "not an image")
    src = open_input(tmp_path / "imgs.zip")
    assert isinstance(src, ZipSource) and len(src) == 5
    np.testing.assert_array_equal(np.stack([src.load(i) for i in range(5)]), images)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_npy_and_npz_arrays(tmp_path, images, layout):
    arr = images if layout == "NHWC" else images.transpose(0, 3, 1, 2)
    np.save(tmp_path / "a.npy", arr)
    np.savez(tmp_path / "a.npz", images=arr)
    for name in ("a.npy", "a.npz"):
        src = open_input(tmp_path / name)
        assert isinstance(src, ArraySource) and src.layout == layout
        np.testing.assert_array_equal(np.stack([src.load(i) for i in range(5)]), images)


def test_tensors_uint8_and_float_in_unit_range(images):
    t8 = torch.from_numpy(images).permute(0, 3, 1, 2)
    src = open_input(t8)
    np.testing.assert_array_equal(src.load(2), images[2])
    tf = t8.float() / 255.0
    np.testing.assert_array_equal(open_input(tf).load(2), images[2])  # round(255x) recovers the bytes
    gray = torch.from_numpy(images[:, :, :, 0])
    np.testing.assert_array_equal(open_input(gray).load(0), np.dstack([images[0, :, :, 0]] * 3))


def test_statistics_npz(tmp_path):
    np.savez(tmp_path / "s.npz", mu=np.zeros(4), sigma=np.eye(4))
    st = open_input(tmp_path / "s.npz")
    assert isinstance(st, StatisticsInput) and st.mu.shape == (4,)


def test_bad_inputs(tmp_path):
    cases = []
    (tmp_path / "empty").mkdir()
    cases.append((tmp_path / "empty", "is empty"))
    (tmp_path / "noimg").mkdir()
    (tmp_path / "noimg" / "a.txt").write_text("x")
    cases.append((tmp_path / "noimg", "no image files"))
    cases.append((tmp_path / "missing", "no such file"))
    np.savez(tmp_path / "onlymu.npz", mu=np.zeros(3))
    cases.append((tmp_path / "onlymu.npz", "'mu' and 'sigma'"))
    np.savez(tmp_path / "mismatch.npz", mu=np.zeros(3), sigma=np.eye(4))
    cases.append((tmp_path / "mismatch.npz", "do not match"))
    np.savez(tmp_path / "nan.npz", mu=np.array([0, np.nan]), sigma=np.eye(2))
    cases.append((tmp_path / "nan.npz", "NaN"))
    np.savez(tmp_path / "other.npz", foo=np.zeros(3), bar=np.zeros(2))
    cases.append((tmp_path / "other.npz", "neither statistics"))
    np.save(tmp_path / "floats.npy", np.full((2, 4, 4, 3), 3.0))
    cases.append((tmp_path / "floats.npy", r"\[0, 1\]"))
    np.save(tmp_path / "nanimg.npy", np.full((2, 4, 4, 3), np.nan))
    cases.append((tmp_path / "nanimg.npy", "NaN"))
    np.save(tmp_path / "badshape.npy", np.zeros((2, 4), np.uint8))
    cases.append((tmp_path / "badshape.npy", "expected images shaped"))
    (tmp_path / "bad.zip").write_bytes(b"PK nonsense")
    cases.append((tmp_path / "bad.zip", "not a readable zip"))
    for path, message in cases:
        with pytest.raises(GanEvalError, match=message):
            open_input(path)


def test_corrupt_and_truncated_images_name_the_file(tmp_path, images):
    folder = save_folder(tmp_path / "f", images[:2])
    (folder / "zz_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    good = (folder / "00.png").read_bytes()
    (folder / "zz_truncated.png").write_bytes(good[: len(good) // 2])
    src = open_input(folder)
    for name in ("zz_corrupt.png", "zz_truncated.png"):
        i = [p.name for p in src.files].index(name)
        with pytest.raises(GanEvalError, match=name):
            src.load(i)


def test_fingerprint_changes_with_content(tmp_path, images):
    folder = save_folder(tmp_path / "f", images)
    before = open_input(folder).fingerprint()
    assert open_input(folder).fingerprint() == before
    Image.fromarray(images[0][:, ::-1].copy()).save(folder / "00.png")
    import os

    os.utime(folder / "00.png", ns=(1, 1))
    assert open_input(folder).fingerprint() != before
