"""One documented rule per kind of input (docs/refusals.md), independent of the pixel values.

Expected values come from the rules themselves applied by hand (v >> 8 for 16-bit samples,
round(255 v) for floats), and for 16-bit colour PNGs from Pillow's own decoder.
"""

import io
import os
import struct
import zipfile
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from gan_eval import GanEvalError
from gan_eval.inputs import ArraySource, FolderSource, ZipSource, decode_image, open_input, walk_folder


def _png16(arr, color_type):
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit colour)."""
    h, w = arr.shape[:2]
    raw = b"".join(b"\0" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _saved(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


# --- bit depth: one rule per mode ---------------------------------------------------------------

def test_16bit_grayscale_maps_by_the_top_byte_whatever_the_maximum():
    # Two images that differ in one pixel: the rest must map the same (once, 4660 -> 18 only when max > 255).
    dark = np.array([[4660 % 256, 200], [255, 0]], np.uint16)  # every value <= 255
    bright = dark.copy()
    bright[1, 1] = 65535
    for arr in (dark, bright):
        got = decode_image(_saved(Image.fromarray(arr), "PNG"), "g16.png")[:, :, 0]
        assert Image.open(io.BytesIO(_saved(Image.fromarray(arr), "PNG"))).mode == "I;16"
        np.testing.assert_array_equal(got, (arr >> 8).astype(np.uint8))
    a = decode_image(_saved(Image.fromarray(dark), "PNG"), "a")[:, :, 0]
    b = decode_image(_saved(Image.fromarray(bright), "PNG"), "b")[:, :, 0]
    assert (a != b).sum() == 1  # one pixel apart in, one pixel apart out


@pytest.mark.parametrize("color_type,channels", [(2, 3), (6, 4), (4, 2)])  # RGB16, RGBA16, LA16
def test_16bit_colour_pngs_keep_the_top_byte(color_type, channels):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 65536, size=(3, 4, channels), dtype=np.uint16)
    got = decode_image(_png16(arr, color_type), "c16.png")
    top = (arr >> 8).astype(np.uint8)
    want = top[:, :, :3] if channels >= 3 else np.repeat(top[:, :, :1], 3, axis=2)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L"])
def test_16bit_modes_in_memory(mode):
    img = Image.new(mode, (2, 1))
    img.putpixel((0, 0), 300)
    img.putpixel((1, 0), 65535)
    got = decode_image(_saved(img, "TIFF"), f"{mode}.tif")
    np.testing.assert_array_equal(got[0, :, 0], [300 >> 8, 255])


def test_mode_I_and_F_rules():
    i32 = Image.fromarray(np.array([[256, 65535]], np.int32), "I")
    np.testing.assert_array_equal(decode_image(_saved(i32, "TIFF"), "i.tif")[0, :, 0], [1, 255])
    with pytest.raises(GanEvalError, match="big.tif: 32-bit integer pixels outside 0..65535"):
        decode_image(_saved(Image.fromarray(np.array([[70000]], np.int32), "I"), "TIFF"), "big.tif")
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32), "F")
    np.testing.assert_array_equal(decode_image(_saved(f, "TIFF"), "f.tif")[0, :, 0], [0, 128, 255])
    with pytest.raises(GanEvalError, match="f2.tif: float pixels must lie in \\[0, 1\\]"):
        decode_image(_saved(Image.fromarray(np.array([[2.0]], np.float32), "F"), "TIFF"), "f2.tif")


def test_8bit_modes_follow_pillow_and_drop_alpha():
    la = Image.new("LA", (1, 1), (77, 9))
    assert decode_image(_saved(la, "PNG"), "la.png")[0, 0].tolist() == [77, 77, 77]
    p = Image.new("P", (1, 1), 1)
    p.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    p.info["transparency"] = 1
    assert decode_image(_saved(p, "PNG", transparency=1), "p.png")[0, 0].tolist() == [10, 20, 30]
    cmyk = Image.new("CMYK", (1, 1), (0, 255, 255, 0))
    assert decode_image(_saved(cmyk, "TIFF"), "c.tif")[0, 0].tolist() == [255, 0, 0]
    one = Image.new("1", (2, 1))
    one.putpixel((1, 0), 1)
    assert decode_image(_saved(one, "PNG"), "1.png")[0, :, 0].tolist() == [0, 255]
    rgba = Image.new("RGBA", (1, 1), (1, 2, 3, 0))
    assert decode_image(_saved(rgba, "PNG"), "a.png")[0, 0].tolist() == [1, 2, 3]


# --- formats ------------------------------------------------------------------------------------

def test_every_common_format_is_read_and_other_files_are_named(tmp_path):
    # pytorch-fid's test_compute_statistics_of_path: one image in nine formats, nine expected.
    img = Image.new("RGB", (8, 8), (10, 20, 30))
    exts = ["bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp", "gif", "tga", "qoi", "pcx", "ico"]
    for ext in exts:
        (img.convert("L") if ext == "pgm" else img).save(tmp_path / f"img.{ext}")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "labels.csv").write_text("x")
    with pytest.warns(UserWarning, match=r"passed over 2 file\(s\) that are not images Pillow reads \(labels.csv, "
                                         r"notes.txt\)"):
        src = FolderSource(tmp_path)
    assert len(src) == len(exts)
    for i in range(len(src)):
        assert src.load(i).shape == (8, 8, 3)


def test_zip_passes_over_with_a_warning(tmp_path):
    z = tmp_path / "a.zip"
    png = _saved(Image.new("RGB", (4, 4)), "PNG")
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("a.png", png)
        f.writestr("b.gif", _saved(Image.new("P", (4, 4)), "GIF"))
        f.writestr("readme.md", "x")
        f.writestr("__MACOSX/._a.png", b"junk")
    with pytest.warns(UserWarning, match=r"1 file\(s\) that are not images .*readme.md.* 1 hidden"):
        src = ZipSource(z)
    assert src.members == ["a.png", "b.gif"]


# --- traversal ----------------------------------------------------------------------------------

def test_folder_rule_symlinks_hidden_and_cycles(tmp_path):
    data = tmp_path / "data"
    (data / "a").mkdir(parents=True)
    (data / ".ipynb_checkpoints").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    for folder, name in ((data / "a", "1.png"), (data / ".ipynb_checkpoints", "1-checkpoint.png"),
                         (outside, "2.png"), (data, "._3.png")):
        Image.new("RGB", (4, 4)).save(folder / name, "PNG")
    os.symlink(outside, data / "linked")  # a dataset assembled from symlinks: followed
    os.symlink(data, data / "a" / "loop")  # a cycle: each real folder read once
    os.symlink(outside, data / "again")  # a second link to the same folder: read once
    os.symlink(outside / "2.png", data / "file-link.png")  # a link to a file: read
    images, other, hidden = walk_folder(data)
    rel = [p.relative_to(data).as_posix() for p in images]
    assert rel == ["a/1.png", "file-link.png", "linked/2.png"] or rel == ["a/1.png", "again/2.png", "file-link.png"]
    assert sorted(hidden) == ["._3.png", ".ipynb_checkpoints"] and other == []
    with pytest.warns(UserWarning, match=r"2 hidden"):
        assert len(FolderSource(data)) == 3


# --- dtypes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64])
def test_float_tensors_of_every_width_quantise_the_same(dtype):
    x = torch.tensor([0.0, 0.25, 0.5, 1.0]).reshape(1, 1, 2, 2).to(dtype)  # exact in every width
    np.testing.assert_array_equal(ArraySource(x).load(0)[:, :, 0], [[0, 64], [128, 255]])


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.int16, torch.uint8, np.uint16, np.int8])
def test_integer_arrays_are_8bit_values(dtype):
    values = [[0, 7], [128, 255]] if dtype is not np.int8 else [[0, 7], [100, 127]]
    x = torch.tensor(values).reshape(1, 2, 2).to(dtype) if isinstance(dtype, torch.dtype) else \
        np.array(values, dtype=dtype).reshape(1, 2, 2)
    np.testing.assert_array_equal(ArraySource(x).load(0)[:, :, 0], values)


@pytest.mark.parametrize("x,msg", [(torch.ones(1, 2, 2, dtype=torch.bool), "bool"),
                                   (torch.ones(1, 2, 2, dtype=torch.complex64), "complex64"),
                                   (np.full((1, 2, 2), 256, np.int64), r"0..255, found values in \[256, 256\]"),
                                   (np.full((1, 2, 2), -1, np.int16), "found values in"),
                                   (np.full((1, 2, 2), 1.5, np.float16), r"\[0, 1\]")])
def test_other_dtypes_are_refused(x, msg):
    with pytest.raises(GanEvalError, match=msg):
        ArraySource(x)


def test_public_functions_take_bfloat16_tensors(random_weights, monkeypatch):
    import gan_eval
    from _score_data import install_fake_net

    install_fake_net(monkeypatch)
    x = torch.rand(4, 3, 16, 16)
    ref = gan_eval.extract_features(x, weights=random_weights, progress=False)
    got = gan_eval.extract_features(x.to(torch.bfloat16), weights=random_weights, progress=False)
    want = gan_eval.extract_features(x.to(torch.bfloat16).float(), weights=random_weights, progress=False)
    assert got.shape == ref.shape and torch.equal(torch.as_tensor(got), torch.as_tensor(want))
    r = gan_eval.fid(x.to(torch.bfloat16), x.to(torch.float16), weights=random_weights, progress=False, quiet=True)
    assert np.isfinite(r["fid"])
    with pytest.raises(GanEvalError, match="bool"):
        gan_eval.fid(x > 0.5, x, weights=random_weights, progress=False)


# --- huge images --------------------------------------------------------------------------------

def test_decompression_bomb_is_bad_input_naming_the_file(tmp_path, monkeypatch, random_weights, capsys):
    from _cli import run_cli

    for name in ("a.png", "huge.png"):
        Image.new("RGB", (64, 64) if name == "huge.png" else (8, 8)).save(tmp_path / name)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 64 // 3)  # 64 x 64 is over twice the limit
    with pytest.raises(GanEvalError, match="huge.png: too large to decode safely"):
        decode_image(tmp_path / "huge.png", "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 64 - 1)  # just over: Pillow only warns; refused too
    with pytest.raises(GanEvalError, match="huge.png: too large"):
        decode_image(tmp_path / "huge.png", "huge.png")
    code, out, err = run_cli(["stats", tmp_path, "-o", tmp_path / "s.npz", "--weights", random_weights,
                              "--num-workers", "0"], capsys)
    assert code == 2 and "huge.png" in err and len([x for x in err.splitlines() if x.startswith("error:")]) == 1


# --- units of the estimators --------------------------------------------------------------------

def test_uint8_images_are_scaled_to_unit_pixels_by_every_estimator():
    from gan_eval import js_divergence, kl_divergence, mmd, mode_coverage, parzen_log_likelihood, select_bandwidth

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(40, 6), dtype=np.uint8)
    b = rng.integers(0, 256, size=(30, 6), dtype=np.uint8)
    fa, fb = a / 255.0, b / 255.0
    np.testing.assert_allclose(parzen_log_likelihood(a, b, 0.3), parzen_log_likelihood(fa, fb, 0.3), rtol=1e-12)
    assert select_bandwidth(a, b) == select_bandwidth(fa, fb)
    assert kl_divergence(a, b, k=3) == pytest.approx(kl_divergence(fa, fb, k=3), rel=1e-9)
    assert js_divergence(a, b, k=3) == pytest.approx(js_divergence(fa, fb, k=3), rel=1e-9)
    assert mmd(a, b, bandwidth=0.5) == pytest.approx(mmd(fa, fb, bandwidth=0.5), rel=1e-9)
    with pytest.raises(GanEvalError, match="uint8"):
        mode_coverage(a[:, :2], np.zeros((2, 2)), 0.1)


def test_parzen_on_uint8_images_matches_the_cli_scale(mnist_dir):
    # The example: MNIST uint8 images straight from the idx file; sigma must be chosen
    # inside the grid on [0, 1] pixels, not pinned at its top by 0..255 units.
    from gan_eval import parzen_log_likelihood, select_bandwidth
    from gan_eval.idx import read_idx

    imgs = read_idx(str(mnist_dir / "t10k-images-idx3-ubyte.gz"))
    centres, val = imgs[:500], imgs[500:600]
    s = select_bandwidth(centres, val)
    assert s < 1.0
    assert parzen_log_likelihood(centres, val, s).mean() == pytest.approx(
        parzen_log_likelihood(centres / 255.0, val / 255.0, s).mean(), rel=1e-12)


def test_compute_statistics_refuses_statistics_as_gan_eval_error(tmp_path):
    from gan_eval import compute_statistics

    np.savez(tmp_path / "s.npz", mu=np.zeros(3), sigma=np.eye(3))
    with pytest.raises(GanEvalError):
        compute_statistics(tmp_path / "s.npz")
    assert open_input(tmp_path / "s.npz").provenance is None
