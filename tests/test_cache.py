"""The feature cache: hits skip the network, any change to the images misses, bad files are redone.

The network is replaced by a cheap deterministic stand-in that counts the images it sees
(`_score_data.FakeNet`); test_score.py checks a cache hit with the real network.
"""

import json
import os
import shutil

import numpy as np
import pytest

from _cli import run_cli
from _score_data import SMALL, copy_images, install_fake_net
from gan_eval import cache
from gan_eval.evaluate import fid, score


@pytest.fixture
def net(monkeypatch):
    return install_fake_net(monkeypatch)


@pytest.fixture
def folders(tmp_path, fixtures_dir):
    return copy_images(fixtures_dir / "real", tmp_path / "real"), copy_images(fixtures_dir / "fake", tmp_path / "fake")


@pytest.fixture
def small_folders(tmp_path, fixtures_dir):
    return copy_images(fixtures_dir / "real", tmp_path / "a", 3), copy_images(fixtures_dir / "fake", tmp_path / "b", 3)


def counted(net, fn, *args, **kwargs):
    """(result, images the network saw while running fn)."""
    before = net.images
    r = fn(*args, **kwargs)
    return r, net.images - before


def fid_of(a, b, weights, **kw):
    return fid(a, b, weights=weights, progress=False, quiet=True, **kw)["fid"]


def entry_of(folder):
    return next(e for e in cache.entries() if e["meta"] and e["meta"]["location"] == str(folder.resolve()))


def test_second_run_skips_the_network(folders, net, random_weights, capsys):
    real, fake = folders
    r1, seen = counted(net, score, real, fake, weights=random_weights, progress=False, quiet=True, **SMALL)
    assert seen == 12 and r1["cache"] == {"real": "miss", "fake": "miss"}
    calls = net.calls
    r2 = score(real, fake, weights=random_weights, progress=False, quiet=True, **SMALL)
    assert net.calls == calls, "the network ran on a cache hit"
    assert r2["cache"] == {"real": "hit", "fake": "hit"}
    assert r2.pop("fid") == pytest.approx(r1.pop("fid"), rel=1e-12)
    assert [r2["inputs"][s].pop("cache") for s in ("real", "fake")] == ["hit", "hit"]
    assert [r1["inputs"][s].pop("cache") for s in ("real", "fake")] == ["miss", "miss"]
    assert {k: v for k, v in r2.items() if k != "cache"} == {k: v for k, v in r1.items() if k != "cache"}
    # `gan-eval fid` reads the same entries (they hold more outputs than FID needs).
    code, out, _ = run_cli(["fid", str(real), str(fake), "--weights", str(random_weights), "--json", "-q"], capsys)
    assert code == 0 and net.calls == calls


def test_touching_changing_adding_removing_a_file_misses(small_folders, net, random_weights, fixtures_dir):
    a, b = small_folders
    v0, seen = counted(net, fid_of, a, b, random_weights)
    assert seen == 6
    assert counted(net, fid_of, a, b, random_weights) == (v0, 0)

    st = (a / "000.png").stat()
    os.utime(a / "000.png", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touch
    assert counted(net, fid_of, a, b, random_weights) == (v0, 0)  # the key is the content: same bytes, a hit

    shutil.copy(fixtures_dir / "fake" / "010.png", a / "001.png")  # changed content
    v, seen = counted(net, fid_of, a, b, random_weights)
    assert seen == 3 and v != pytest.approx(v0)
    assert v == pytest.approx(fid_of(a, b, random_weights, cache=False), rel=1e-12)

    shutil.copy(fixtures_dir / "fake" / "011.png", a / "zz_added.png")
    assert counted(net, fid_of, a, b, random_weights)[1] == 4
    (a / "zz_added.png").unlink()
    assert counted(net, fid_of, a, b, random_weights)[1] == 3
    # Superseded entries of a folder are pruned: one entry per folder remains.
    locations = [e["meta"]["location"] for e in cache.entries()]
    assert sorted(locations) == sorted([str(a.resolve()), str(b.resolve())])


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_entry"])
def test_corrupt_entry_is_recomputed_and_replaced(small_folders, net, random_weights, damage):
    a, b = small_folders
    v0 = fid_of(a, b, random_weights)
    path = entry_of(a)["path"]
    if damage == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not an npz at all")
    else:  # a valid entry under the wrong name must not be served
        shutil.copy(entry_of(b)["path"], path)
    v, seen = counted(net, fid_of, a, b, random_weights)
    assert seen == 3 and v == pytest.approx(v0, rel=1e-12)
    assert entry_of(a)["meta"]["key"] == path.stem  # rewritten, readable again
    assert counted(net, fid_of, a, b, random_weights)[1] == 0


def test_list_and_clear(folders, net, random_weights, capsys, monkeypatch):
    real, fake = folders
    code, out, _ = run_cli(["cache", "list"], capsys)
    assert code == 0 and out.strip().startswith("0 entries")
    score(real, fake, weights=random_weights, progress=False, quiet=True, **SMALL)
    code, out, _ = run_cli(["cache", "list", "--json"], capsys)
    listed = json.loads(out)
    assert code == 0 and len(listed["entries"]) == 2
    by_source = {e["source"]: e for e in listed["entries"]}
    assert by_source[str(real)]["count"] == 6
    assert by_source[str(real)]["outputs"] == ["pool3", "logits_unbiased"]
    assert all(e["size"] > 6 * 2048 * 4 and e["created"] for e in listed["entries"])
    code, out, _ = run_cli(["cache", "list"], capsys)
    assert by_source[str(fake)]["key"][:12] in out and str(fake) in out and "2 entries" in out

    (cache.features_dir() / ("0" * 64 + ".npz")).write_bytes(b"junk")
    code, out, _ = run_cli(["cache", "list"], capsys)
    assert "(unreadable)" in out and "3 entries" in out

    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, err = run_cli(["cache", "clear"], capsys)
    assert code == 0 and "nothing deleted" in out and len(cache.entries()) == 3  # declining is no failure
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no answer at all: exit 2, nothing deleted
    code, out, err = run_cli(["cache", "clear"], capsys)
    assert code == 2 and "\nerror: no answer" in err and len(cache.entries()) == 3
    code, out, _ = run_cli(["cache", "list"], capsys)
    assert "resize=tensorflow" in out and "precision=fp32" in out and "weights=" in out
    code, out, _ = run_cli(["cache", "clear", "--yes"], capsys)
    assert code == 0 and "removed 3 files" in out
    assert cache.entries() == []


def test_no_cache_neither_reads_nor_writes(small_folders, net, random_weights, capsys):
    a, b = small_folders
    code, _, err = run_cli(["fid", str(a), str(b), "--weights", str(random_weights), "--no-cache", "-q"], capsys)
    assert code == 0, err
    assert cache.entries() == [] and net.images == 6
    fid_of(a, b, random_weights)  # now cached
    mtimes = sorted(e["path"].stat().st_mtime_ns for e in cache.entries())
    code, _, err = run_cli(["score", str(a), str(b), "--metrics", "fid", "--weights", str(random_weights),
                            "--no-cache", "-q"], capsys)
    assert code == 0, err
    assert net.images == 18  # ran again despite the entries
    assert sorted(e["path"].stat().st_mtime_ns for e in cache.entries()) == mtimes


def test_in_memory_inputs_are_not_cached(folders, net, random_weights):
    from gan_eval.inputs import load_images

    real, fake = folders
    r = score(load_images(real), load_images(fake), metrics="fid", weights=random_weights, progress=False,
              quiet=True)
    assert r["cache"] == {"real": "off", "fake": "off"} and cache.entries() == []


def test_images_changing_during_the_pass_are_not_stored(small_folders, net, random_weights, monkeypatch):
    from gan_eval.inputs import FolderSource

    ticks = iter(range(1000))
    monkeypatch.setattr(FolderSource, "signature", lambda self: f"changing-{next(ticks)}")
    fid_of(*small_folders, random_weights)
    assert cache.entries() == []


def test_large_sets_store_moments_until_features_are_needed(folders, net, random_weights, monkeypatch):
    """From STATS_MIN_COUNT images on, an entry for FID alone holds (count, Σx, Σxxᵀ) and no
    features; a metric that needs the features misses it and stores both."""
    import torch

    from gan_eval.evaluate import cached_pass
    from gan_eval.features.extract import load_network
    from gan_eval.inputs import open_input

    monkeypatch.setattr(cache, "STATS_MIN_COUNT", 4)
    real, _ = folders
    src, loaded = open_input(real), load_network(random_weights, quiet=True)

    def run(needed):
        return counted(net, cached_pass, src, loaded, "tensorflow", 50, "cpu", 0, False, needed)

    (p0, status), seen = run(())
    assert (status, seen, p0.features) == ("miss", 6, {})
    with np.load(entry_of(real)["path"]) as data:
        assert {"sum", "sum_outer", "count"} <= set(data.files) and not any(k.startswith("feat_") for k in data.files)
        assert int(data["count"]) == 6
    (p1, status), seen = run(())
    assert (status, seen, p1.count) == ("hit", 0, 6)
    assert torch.equal(p1.stats.sum, p0.stats.sum) and torch.equal(p1.stats.sum_outer, p0.stats.sum_outer)
    (p2, status), seen = run(("pool3",))
    assert (status, seen, p2.features["pool3"].shape) == ("miss", 6, (6, 2048))
    with np.load(entry_of(real)["path"]) as data:
        assert {"sum", "sum_outer", "feat_pool3"} <= set(data.files)
    assert len(cache.entries()) == 1  # the moments-only entry was superseded
    assert run(())[0][1] == "hit"  # and the new one serves FID alone too
