"""Fault injection for the feature cache: edits that keep size and mtime, an unreadable or
read-only cache folder, leftovers of killed writers, file names that are not UTF-8.

The network is the counting stand-in of `_score_data.FakeNet`; "miss" means it ran again, and
the uncached result (``--no-cache``) is the reference value.
"""

import errno
import json
import os
import pathlib
import time

import numpy as np
import pytest
from PIL import Image

from _cli import run_cli
from _score_data import copy_images, install_fake_net
from gan_eval import cache
from gan_eval.evaluate import fid


@pytest.fixture
def net(monkeypatch):
    return install_fake_net(monkeypatch)


@pytest.fixture
def small_folders(tmp_path, fixtures_dir):
    return copy_images(fixtures_dir / "real", tmp_path / "a", 3), copy_images(fixtures_dir / "fake", tmp_path / "b", 3)


def fid_of(a, b, weights, **kw):
    return fid(a, b, weights=weights, progress=False, quiet=True, **kw)["fid"]


def _seen(net, fn, *args, **kw):
    before = net.images
    return fn(*args, **kw), net.images - before


def _replace_keeping_size_and_times(path, new_bytes):
    """What `cp -p`, `rsync -a` and `tar -x` do to a file: other content, the old mtime restored."""
    st = path.stat()
    assert len(new_bytes) == st.st_size
    path.write_bytes(new_bytes)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns)


def _png(seed, side=16):
    import io

    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=0)  # size fixed by the shape
    return buf.getvalue()


def test_same_size_edit_with_restored_mtime_is_a_miss(tmp_path, net, random_weights, small_folders):
    a, b = small_folders
    for i in range(3):
        (a / f"{i:03d}.png").write_bytes(_png(i))
    v0, seen = _seen(net, fid_of, a, b, random_weights)
    assert seen == 6 and _seen(net, fid_of, a, b, random_weights) == (v0, 0)
    _replace_keeping_size_and_times(a / "001.png", _png(99))
    v, seen = _seen(net, fid_of, a, b, random_weights)
    assert seen == 3, "a stale entry was served"
    assert v != v0 and v == pytest.approx(fid_of(a, b, random_weights, cache=False), rel=1e-12)


def test_same_size_edit_of_an_npy_with_restored_mtime_is_a_miss(tmp_path, net, random_weights, small_folders):
    _, b = small_folders
    arr = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    np.save(tmp_path / "x.npy", arr)
    v0 = fid_of(tmp_path / "x.npy", b, random_weights)
    np.save(tmp_path / "y.npy", 255 - arr)
    _replace_keeping_size_and_times(tmp_path / "x.npy", (tmp_path / "y.npy").read_bytes())
    v, seen = _seen(net, fid_of, tmp_path / "x.npy", b, random_weights)
    assert seen == 3 and v != v0


@pytest.fixture
def unreadable_cache(monkeypatch):
    """The cache folder answers EACCES to everything, as a folder without r/x rights does for a
    user other than root (tests run as root, which chmod does not stop)."""
    root = str(cache.features_dir().parent)

    def guard(real):
        def f(self, *a, **k):
            if str(self).startswith(root):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
            return real(self, *a, **k)
        return f

    for name in ("exists", "mkdir", "is_dir", "glob", "stat"):
        monkeypatch.setattr(pathlib.Path, name, guard(getattr(pathlib.Path, name)))


def test_unreadable_cache_folder_warns_and_computes(small_folders, net, random_weights, capsys, unreadable_cache):
    a, b = small_folders
    code, out, err = run_cli(["fid", a, b, "--weights", random_weights, "--json"], capsys)
    assert code == 0, err
    assert "warning: cannot use the feature cache" in err and "Permission denied" in err
    assert "Traceback" not in err and "internal error" not in err
    code, out_q, err_q = run_cli(["fid", a, b, "--weights", random_weights, "--json", "-q"], capsys)
    assert code == 0 and err_q == ""  # -q: no warnings
    assert json.loads(out)["fid"] == json.loads(out_q)["fid"] == pytest.approx(fid_of(a, b, random_weights, cache=False))
    code, _, err = run_cli(["cache", "list"], capsys)
    assert code == 2 and err.startswith("error: cannot read the cache") and err.count("\n") == 1


def test_clear_on_a_read_only_cache_reports_failure(small_folders, net, random_weights, capsys, monkeypatch):
    a, b = small_folders
    fid_of(a, b, random_weights)
    assert len(cache.entries()) == 2
    real_unlink = pathlib.Path.unlink

    def read_only(self, *a, **k):  # EROFS, as a read-only mount gives (chmod does not stop root)
        if str(self).startswith(str(cache.features_dir())):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_unlink(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "unlink", read_only)
    code, out, err = run_cli(["cache", "clear", "--yes"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "could not remove 2 of 2 files" in err and "Read-only file system" in err and "removed 0" in err
    assert len(cache.entries()) == 2


def test_leftover_temporary_files_are_cleaned(small_folders, net, random_weights, capsys):
    a, b = small_folders
    folder = cache.features_dir()
    folder.mkdir(parents=True)
    old, young = folder / ".deadbeef0000.abc.tmp", folder / ".cafebabe0000.def.tmp"
    old.write_bytes(b"half an entry")
    young.write_bytes(b"a writer still at work")
    os.utime(old, (time.time() - 2 * cache.STALE_TMP_S,) * 2)
    fid_of(a, b, random_weights)  # stores two entries
    assert not old.exists() and young.exists() and cache.temporaries() == [young]
    code, out, _ = run_cli(["cache", "clear", "--yes"], capsys)
    assert code == 0 and "removed 3 files" in out and cache.temporaries() == []


def test_file_names_that_are_not_utf8_work_with_the_cache(tmp_path, net, random_weights, fixtures_dir, capsys):
    a = tmp_path / os.fsdecode(b"r\xe9el")  # latin-1 bytes: not valid UTF-8
    copy_images(fixtures_dir / "real", a, 3)
    os.rename(a / "000.png", a / os.fsdecode(b"\xff\xfe.png"))
    b = copy_images(fixtures_dir / "fake", tmp_path / "b", 3)
    code, out, err = run_cli(["fid", a, b, "--weights", random_weights, "--json", "-q"], capsys)
    assert code == 0, err
    before = net.images
    code, out2, err = run_cli(["fid", a, b, "--weights", random_weights, "--json", "-q"], capsys)
    assert code == 0 and net.images == before and json.loads(out2)["fid"] == json.loads(out)["fid"]  # a hit
    code, out3, _ = run_cli(["fid", a, b, "--weights", random_weights, "--json", "-q", "--no-cache"], capsys)
    assert json.loads(out3)["fid"] == pytest.approx(json.loads(out)["fid"], rel=1e-12)
    code, listed, err = run_cli(["cache", "list"], capsys)
    assert code == 0 and "2 entries" in listed, err
