"""On-disk cache of network outputs, so scoring the same images twice runs the network once.

Location: ``cache_dir() / "features"`` (``$GAN_EVAL_CACHE/features``, default
``~/.cache/gan_eval/features``), one ``<key>.npz`` per entry.

Key: sha256 over the input's fingerprint (``ImageSource.fingerprint()``: the SHA-256 of the bytes
of every file of a folder with its relative path; of the whole file for a zip, .npy or .npz), the
network weights' sha256, the resize mode, the stored outputs, the precision and
``FORMAT_VERSION``; outside Inception's feature space also the space's name (``features``) and its
dimension (``dims``), with ``resize`` then naming the space's own preprocessing. The fingerprint covers content, not sizes and times, so an edit that keeps
the size and restores the mtime (``cp -p``, ``rsync -a``, ``tar -x``) still gives another key: a
stale entry is never found. The price is reading every byte of the input once per lookup
(sha256 runs at a few hundred MB/s per core, several threads in parallel), far less than decoding
the images and running the network. Inputs without a fingerprint (in-memory arrays) are not
cached.

Value: an uncompressed .npz with

* ``feat_<output>``: the float32 features of each stored output (``pool3``, ``logits``,
  ``logits_unbiased``), when a metric needs them whole (KID, precision/recall, IS), and pool3
  always for sets under 2048 images (the exact low-rank FID needs them, and they are smaller
  than the statistics);
* ``sum``, ``sum_outer``, ``count``: the float64 pool3 moments (``Statistics``), for sets of 2048
  images or more, so FID never has to recompute a 2048 x 2048 product over all features;
* ``meta``: a JSON string (source, location, count, outputs, created, the key parts).

Files are written to a temporary file and renamed (``gan_eval.atomic``). An entry that cannot be
read, or whose content does not match its key, is a miss and is replaced by the next write; cache
problems (an unreadable folder, a read-only or full disk) only warn, and the computation runs
uncached. Temporary files left by killed writers are deleted by the next write once they are an
hour old, and by ``clear()``.
"""

import hashlib
import itertools
import json
import os
import time
import warnings
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .atomic import TMP_SUFFIX, write_atomic
from .cachedir import cache_dir
from .stats import Statistics

FORMAT_VERSION = 1
OUTPUTS = ("pool3", "logits", "logits_unbiased")
DIMS = {"pool3": 2048, "logits": 1008, "logits_unbiased": 1008}
STATS_MIN_COUNT = 2048  # from this many images on, entries hold pool3 moments (see module docstring)
STALE_TMP_S = 3600  # a temporary file this old belongs to a writer that died


def features_dir():
    return cache_dir() / "features"


@dataclass
class Entry:
    """A cache entry: pool3 statistics, the stored features and the metadata."""

    key: str
    meta: dict
    stats: Statistics
    features: dict = field(default_factory=dict)  # output -> float32 N x d array

    @property
    def count(self):
        return self.stats.count


def stored_outputs(count, needed):
    """The outputs an entry for `count` images stores when `needed` outputs are needed whole."""
    needed = set(needed)
    unknown = needed - set(OUTPUTS)
    if unknown:
        raise ValueError(f"unknown outputs {sorted(unknown)}")
    if count < STATS_MIN_COUNT:
        needed.add("pool3")
    return tuple(o for o in OUTPUTS if o in needed)


def make_key(fingerprint, weights_sha256, resize, outputs, precision, features="inception"):
    parts = {"fingerprint": fingerprint, "weights_sha256": weights_sha256, "resize": resize,
             "outputs": list(outputs), "precision": precision, "format": FORMAT_VERSION}
    if features != "inception":  # Inception's keys stay as they were
        from .features.spaces import get

        parts.update(features=features, dims=get(features).dims)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest(), parts


def _candidates(count, needed):
    """Output sets that can serve a request, smallest first (an entry may hold more than needed)."""
    base = set(stored_outputs(count, needed))
    rest = [o for o in OUTPUTS if o not in base]
    for r in range(len(rest) + 1):
        for extra in itertools.combinations(rest, r):
            yield tuple(o for o in OUTPUTS if o in base or o in extra)


def _read(path):
    """Arrays and metadata of an entry file, or None when it is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError, TypeError):
        return None
    return arrays, meta if isinstance(meta, dict) else None


def _entry_from(path, key, parts):
    """Validate an entry file against its key; None (a miss) for anything inconsistent."""
    got = _read(path)
    if got is None or got[1] is None:
        return None
    arrays, meta = got
    if meta.get("key") != key or any(meta.get(k) != v for k, v in parts.items()):
        return None
    try:
        count = int(meta["count"])
        features = {o: arrays[f"feat_{o}"] for o in parts["outputs"]}
        dims = dict(DIMS, pool3=parts.get("dims", DIMS["pool3"]))
        for o, f in features.items():
            if f.dtype != np.float32 or f.shape != (count, dims[o]) or not np.isfinite(f).all():
                return None
        if "sum" in arrays:
            stats = Statistics(dims["pool3"])
            s, so, n = arrays["sum"], arrays["sum_outer"], int(arrays["count"])
            if s.shape != (dims["pool3"],) or so.shape != (dims["pool3"],) * 2 or n != count:
                return None
            if not (np.isfinite(s).all() and np.isfinite(so).all()):
                return None
            stats.count = n
            stats.sum.copy_(_tensor(s))
            stats.sum_outer.copy_(_tensor(so))
        elif "pool3" in features:
            stats = Statistics.from_features(features["pool3"])
        else:
            return None
    except (KeyError, ValueError, TypeError):
        return None
    return Entry(key, meta, stats, features)


def _tensor(a):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def lookup(fingerprint, weights_sha256, resize, precision, count, needed, features="inception"):
    """The entry for these key parts that holds at least the `needed` outputs, or None.

    A file that exists under a candidate key but cannot be read or does not match is deleted.
    """
    if fingerprint is None:
        return None
    try:
        return _lookup(fingerprint, weights_sha256, resize, precision, count, needed, features)
    except OSError as e:
        _warn_unusable(e)
        return None


def _warn_unusable(e):
    warnings.warn(f"cannot use the feature cache in {features_dir()} ({e.strerror or e}); continuing without it",
                  stacklevel=3)


def _lookup(fingerprint, weights_sha256, resize, precision, count, needed, features):
    for outputs in _candidates(count, needed):
        key, parts = make_key(fingerprint, weights_sha256, resize, outputs, precision, features)
        path = features_dir() / f"{key}.npz"
        if not path.exists():
            continue
        entry = _entry_from(path, key, parts)
        if entry is not None and entry.count == count:
            return entry
        _remove(path)
    return None


def store(fingerprint, weights_sha256, resize, precision, source_name, location, stats, features,
          space="inception"):
    """Write an entry (features: output -> N x d array, all of them stored). Returns the key or None."""
    if fingerprint is None:
        return None
    outputs = tuple(o for o in OUTPUTS if o in features)
    key, parts = make_key(fingerprint, weights_sha256, resize, outputs, precision, space)
    meta = dict(parts, key=key, source=str(source_name), location=str(location), count=int(stats.count),
                stats=bool(stats.count >= STATS_MIN_COUNT),
                created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    arrays = {f"feat_{o}": np.ascontiguousarray(features[o], dtype=np.float32) for o in outputs}
    if meta["stats"]:
        arrays.update(sum=stats.sum.cpu().numpy(), sum_outer=stats.sum_outer.cpu().numpy(),
                      count=np.int64(stats.count))
    arrays["meta"] = np.array(json.dumps(meta))
    folder = features_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / f"{key}.npz", lambda f: np.savez(f, **arrays))
    except OSError as e:
        warnings.warn(f"could not write the feature cache in {folder} ({e.strerror or e}); continuing without it",
                      stacklevel=2)
        return None
    try:
        _prune(meta)
        _remove_stale_temporaries(folder)
    except OSError:
        pass  # housekeeping only
    return key


def temporaries():
    """Temporary files in the cache folder (a writer's, or left by one that was killed)."""
    folder = features_dir()
    return sorted(folder.glob(f".*{TMP_SUFFIX}")) if folder.is_dir() else []


def _remove_stale_temporaries(folder):
    now = time.time()
    for path in folder.glob(f".*{TMP_SUFFIX}"):
        try:
            if now - path.stat().st_mtime > STALE_TMP_S:
                path.unlink()
        except OSError:
            pass


def _prune(new):
    """Delete entries the new one supersedes: same location and network settings, and either
    another fingerprint (the images there have changed) or a subset of its outputs."""
    same = ("weights_sha256", "resize", "precision", "format", "location", "features")
    for info in entries():
        m = info.get("meta")
        if m is None or m.get("key") == new["key"] or any(m.get(k) != new.get(k) for k in same):
            continue
        if m.get("fingerprint") != new["fingerprint"] or (
                set(m.get("outputs", ())) <= set(new["outputs"]) and m.get("stats") == new["stats"]):
            _remove(info["path"])


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def entries():
    """Every entry file: dicts with path, size, and meta (None for an unreadable file)."""
    folder = features_dir()
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.npz")):
        try:
            size = path.stat().st_size
        except OSError:
            continue
        meta = None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError):
            pass
        out.append({"path": path, "key": path.stem, "size": size, "meta": meta if isinstance(meta, dict) else None})
    return out


def find(name, prefer=None):
    """The entry whose key starts with `name`, or whose source or location is `name`; else None.

    When several match, those whose meta agrees with every item of `prefer` (e.g. the run's
    weights_sha256, resize and precision) are kept; if that still leaves several, the newest
    is taken when they differ only in their outputs, else ValueError.
    """
    matches = [e for e in entries() if e["meta"] is not None and (
        e["key"].startswith(name) or name in (e["meta"].get("source"), e["meta"].get("location")))]
    if len(matches) > 1 and prefer:
        matches = [e for e in matches if all(e["meta"].get(k) == v for k, v in prefer.items())] or matches
    if len(matches) > 1 and len({e["meta"].get("fingerprint") for e in matches}) == 1 and prefer and all(
            all(e["meta"].get(k) == v for k, v in prefer.items()) for e in matches):
        matches = [max(matches, key=lambda e: (len(e["meta"].get("outputs", ())), e["meta"].get("created") or ""))]
    if len(matches) > 1:
        raise ValueError(f"{len(matches)} cache entries match {name!r}: "
                         + ", ".join(e["key"][:12] for e in matches) + "; give a longer key prefix")
    if not matches:
        return None
    e = matches[0]
    parts = {k: e["meta"].get(k) for k in ("fingerprint", "weights_sha256", "resize", "outputs", "precision", "format")}
    parts.update({k: e["meta"][k] for k in ("features", "dims") if k in e["meta"]})
    return _entry_from(e["path"], e["key"], parts)


def clear():
    """Delete every entry and stray temporary file.

    Returns (files removed, bytes freed, failures), failures a list of (path, reason) for the
    files that could not be deleted (a read-only cache, say).
    """
    folder = features_dir()
    n = freed = 0
    failed = []
    if folder.is_dir():
        for path in list(folder.glob("*.npz")) + list(folder.glob(f".*{TMP_SUFFIX}")):
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue  # removed meanwhile by another process
            except OSError as e:
                failed.append((path, e.strerror or str(e)))
                continue
            n, freed = n + 1, freed + size
    return n, freed, failed
