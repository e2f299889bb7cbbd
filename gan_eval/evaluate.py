"""From inputs to scores: one pass of the network per input, every requested metric from it.

Thin orchestration over ``features`` (the network) and ``metrics`` (pure functions); no math here
beyond bookkeeping.
"""

from dataclasses import dataclass, field

import numpy as np

from . import defaults, distributed
from .errors import GanEvalError
from .features.extract import check_outputs, iter_features, load_network
from .inputs import StatisticsInput, open_input
from .metrics.fid import fid_from_moments
from .stats import Statistics


@dataclass
class FeaturePass:
    """What one pass over an input produced: streaming statistics and, where kept, features."""

    name: str
    stats: Statistics
    features: dict = field(default_factory=dict)  # output name -> N x d array (kept when asked)

    @property
    def count(self):
        return self.stats.count


def feature_pass(source, loaded, resize, batch_size, device, num_workers, progress, keep=(), keep_pool3_below=None,
                 outputs=("pool3",), precision="fp32", quiet=False):
    """Run the network once over `source`; accumulate pool3 statistics in float64.

    Outputs named in `keep` are kept whole; pool3 features are also kept while the count is
    below `keep_pool3_below` (for the exact low-rank FID on small sets).
    """
    src = open_input(source)
    names = tuple(dict.fromkeys(("pool3",) + tuple(outputs) + tuple(keep)))
    stats = Statistics(2048)
    kept = {n: [] for n in names}
    small_pool3 = []
    shard = distributed.shard_indices(len(src), batch_size)  # None unless torch.distributed runs > 1 process
    with distributed.collective_errors():
        for _, out in iter_features(src, loaded, resize, batch_size, device, num_workers, names, progress, precision,
                                    indices=shard, quiet=quiet):
            stats.update(out["pool3"])
            for n in keep:
                kept[n].append(out[n].numpy())
            if keep_pool3_below is not None and small_pool3 is not None:
                small_pool3.append(out["pool3"].numpy())
                if stats.count >= keep_pool3_below:
                    small_pool3 = None
    features = {n: np.concatenate(v) for n, v in kept.items() if n in keep and v}
    if small_pool3 and "pool3" not in features:
        features["pool3"] = np.concatenate(small_pool3)
    if shard is not None:
        stats, features = distributed.merge_pass(stats, features, keep, keep_pool3_below)
    return FeaturePass(src.name, stats, features)


def _check_count(n, name):
    if n < 2:
        raise GanEvalError(f"{name}: FID needs at least 2 images, got {n}")


def compute_statistics(source, weights=None, resize=defaults.DEFAULT_RESIZE, batch_size=defaults.DEFAULT_BATCH_SIZE,
                       device=None, num_workers=None, progress=True, precision="fp32", quiet=False):
    """Mean and covariance of the pool3 features of `source` without holding all features.

    Returns ``(mu, sigma, n)`` (float64); ``mu``/``sigma`` are what pytorch-fid's .npz files hold.
    """
    loaded = load_network(weights, quiet=quiet)
    p = feature_pass(source, loaded, resize, batch_size, device, num_workers, progress, precision=precision,
                     quiet=quiet)
    _check_count(p.count, p.name)
    return p.stats.mean, p.stats.cov, p.count


def fid(source1, source2, weights=None, resize=defaults.DEFAULT_RESIZE, batch_size=defaults.DEFAULT_BATCH_SIZE,
        device=None, num_workers=None, progress=True, precision="fp32", quiet=False, cache=True):
    """Fréchet Inception Distance between two inputs.

    Each input is a folder, .zip, .npy/.npz of uint8 images, an .npz of statistics (``mu``,
    ``sigma``), a uint8 array/tensor (NHWC or NCHW) or a float tensor in [0, 1]. Returns a dict
    with ``fid``, ``n1``, ``n2``, ``resize`` and ``weights_sha256`` (None when both inputs are
    statistics files). Sets smaller than 2048 use the exact low-rank computation. With
    ``cache=True`` the network outputs of file inputs are read from / written to the feature
    cache (see ``gan_eval.cache``).
    """
    import warnings

    srcs = [open_input(source1), open_input(source2)]
    loaded = None
    moments = []
    for src in srcs:
        if isinstance(src, StatisticsInput):
            moments.append((src.mu, src.sigma, src.count, None))
            continue
        if loaded is None:
            loaded = LazyNetwork(weights, quiet=quiet)
        p, _ = cached_pass(src, loaded, resize, batch_size, device, num_workers, progress, precision=precision,
                           quiet=quiet, cache=cache)
        _check_count(p.count, p.name)
        moments.append((p.stats.mean, p.stats.cov, p.count, p.features.get("pool3")))
    (m1, s1, n1, f1), (m2, s2, n2, f2) = moments
    if m1.shape != m2.shape:
        raise GanEvalError(
            f"dimension mismatch: {srcs[0].name} has {m1.shape[0]}-d statistics, {srcs[1].name} has {m2.shape[0]}-d")
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        value = fid_from_moments(m1, s1, n1, f1, m2, s2, n2, f2)
    return {
        "fid": value,
        "n1": n1,
        "n2": n2,
        "resize": resize if loaded is not None else None,
        "weights_sha256": loaded.sha256 if loaded is not None else None,
    }


def _location(src):
    """Absolute path of a file input, for the cache's bookkeeping."""
    from pathlib import Path

    path = getattr(src, "root", None) or getattr(src, "path", None) or src.name
    return str(Path(path).resolve())


class LazyNetwork:
    """The weights' file and sha256 at once; the network itself only when a pass needs it, so a
    run served by the feature cache does not spend seconds building it."""

    def __init__(self, weights=None, quiet=False):
        from .features import weights as weights_mod

        self.quiet = quiet
        if isinstance(weights, weights_mod.LoadedWeights):
            self.path, self.sha256, self._loaded = weights.path, weights.sha256, weights
        else:
            self.path = weights_mod.resolve(weights)
            self.sha256, self._loaded = weights_mod.sha256_of(self.path), None

    def get(self):
        if self._loaded is None:
            self._loaded = load_network(self.path, quiet=self.quiet)
        return self._loaded


def cached_pass(src, loaded, resize, batch_size, device, num_workers, progress, needed=(), precision="fp32",
                quiet=False, cache=True):
    """One network pass over the ImageSource `src` keeping the `needed` outputs whole, via the cache.

    `loaded` is a LoadedWeights or a LazyNetwork (built only on a miss). pool3 features are kept
    too for sets under 2048 images (exact low-rank FID). Returns ``(FeaturePass, status)``, status
    ``"hit"``, ``"miss"`` or ``"off"`` (cache disabled, or an input without fingerprint such as an
    in-memory array). The key is a hash of the files' bytes (``ImageSource.fingerprint``); an entry
    is written only when no file changed during the pass (``ImageSource.signature``). Cache
    trouble (an unreadable or unwritable cache folder) warns and the pass runs uncached.
    """
    from . import cache as feature_cache

    n = len(src)
    keep = feature_cache.stored_outputs(n, needed)
    signature = src.signature() if cache else None
    fingerprint = src.fingerprint() if cache else None
    if fingerprint is not None:
        entry = feature_cache.lookup(fingerprint, loaded.sha256, resize, precision, n, keep)
        if distributed.all_true(entry is not None):  # under torch.distributed: every rank hit, or all run
            return FeaturePass(src.name, entry.stats, {o: entry.features[o] for o in keep}), "hit"
    loaded = loaded.get() if isinstance(loaded, LazyNetwork) else loaded
    check_outputs(loaded, keep)  # before any image is decoded
    p = feature_pass(src, loaded, resize, batch_size, device, num_workers, progress, keep=keep, outputs=keep,
                     precision=precision, quiet=quiet)
    if fingerprint is None:
        return p, "off"
    if signature is not None and src.signature() == signature and distributed.is_main():
        feature_cache.store(fingerprint, loaded.sha256, resize, precision, src.name, _location(src), p.stats,
                            p.features)
    return p, "miss"


METRICS = ("fid", "is", "kid", "prdc")
# Metrics that can take a statistics .npz (mu, sigma) for REAL, and for FAKE. IS uses FAKE only.
_STATS_OK = {"real": ("fid", "is"), "fake": ("fid",)}


def parse_metrics(metrics):
    """A tuple of known metric names from a comma-separated string or an iterable (order kept)."""
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names = [str(m).strip().lower() for m in names if str(m).strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        what = f"unknown metric {', '.join(map(repr, unknown))}" if unknown else "no metric given"
        raise GanEvalError(f"{what}; known metrics: {', '.join(METRICS)}")
    return tuple(dict.fromkeys(names))


def score(real, fake, metrics=METRICS, weights=None, resize=defaults.DEFAULT_RESIZE,
          batch_size=defaults.DEFAULT_BATCH_SIZE, device=None, num_workers=None, progress=True, cache=True,
          kid_subsets=defaults.KID_SUBSETS, kid_subset_size=defaults.KID_SUBSET_SIZE, k_pr=defaults.PR_K,
          k_dc=defaults.DC_K, is_splits=defaults.IS_SPLITS, seed=defaults.SEED, precision="fp32", quiet=False):
    """Several metrics of FAKE against REAL from one network pass per input.

    `metrics`: any of ``fid`` (Fréchet Inception Distance), ``is`` (Inception Score of FAKE,
    logits without bias, `is_splits` splits), ``kid`` (Kernel Inception Distance, `kid_subsets`
    subsets of `kid_subset_size`), ``prdc`` (precision/recall with k = `k_pr`, density/coverage
    with k = `k_dc`). Inputs are what :func:`fid` takes; a statistics .npz can stand for REAL only
    with fid and is (and for FAKE only with fid): the others need the images' features. `seed`
    seeds the IS shuffle and the KID subsets. When REAL's images go through the network anyway
    (for fid, kid or prdc) and ``is`` is asked for, the Inception Score of REAL is reported too
    (``is_real``), as a reference for the fake one.

    Returns a dict: ``fid``; ``is`` and ``is_real`` as ``{"mean", "std"}`` over the splits; ``kid``
    as ``{"mean", "std", "subset_size", "subsets"}``; ``precision``, ``recall``, ``density``,
    ``coverage``; then ``n_real``, ``n_fake``, ``resize``, ``weights_sha256`` and ``cache``
    (``{"real": ..., "fake": ...}``: hit, miss, off or None when the side needed no pass).
    """
    import warnings

    from .metrics.inception_score import inception_score
    from .metrics.kid import kernel_inception_distance
    from .metrics.prdc import density_coverage, precision_recall, prdc

    metrics = parse_metrics(metrics)
    srcs = {"real": open_input(real), "fake": open_input(fake)}
    for side, src in srcs.items():
        bad = [m for m in metrics if m not in _STATS_OK[side]]
        if isinstance(src, StatisticsInput) and bad:
            raise GanEvalError(
                f"{src.name}: a statistics file (mu, sigma) can stand for {side.upper()} only with "
                f"{' and '.join(_STATS_OK[side])}; {', '.join(bad)} need{'s' if len(bad) == 1 else ''} the images")
    whole = ("pool3",) if {"kid", "prdc"} & set(metrics) else ()
    logits = ("logits_unbiased",) if "is" in metrics else ()
    real_runs = not isinstance(srcs["real"], StatisticsInput) and bool({"fid", "kid", "prdc"} & set(metrics))
    needed = {"real": whole + logits if real_runs else None,
              "fake": None if isinstance(srcs["fake"], StatisticsInput) else whole + logits}

    loaded = LazyNetwork(weights, quiet) if any(v is not None for v in needed.values()) else None
    passes, status = {}, {"real": None, "fake": None}
    for side in ("real", "fake"):
        if needed[side] is not None:
            passes[side], status[side] = cached_pass(srcs[side], loaded, resize, batch_size, device, num_workers,
                                                     progress, needed[side], precision, quiet, cache)

    def counted(side):
        if side in passes:
            return passes[side].count
        return srcs[side].count if isinstance(srcs[side], StatisticsInput) else len(srcs[side])

    result = {}
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        if "fid" in metrics:
            moments = []
            for side in ("real", "fake"):
                if side in passes:
                    p = passes[side]
                    _check_count(p.count, p.name)
                    moments.append((p.stats.mean, p.stats.cov, p.count, p.features.get("pool3")))
                else:
                    s = srcs[side]
                    moments.append((s.mu, s.sigma, s.count, None))
            result["fid"] = fid_from_moments(*moments[0], *moments[1])
        if "is" in metrics:
            for side, name in (("fake", "is"), ("real", "is_real")):
                if side in passes:
                    r = inception_score(passes[side].features["logits_unbiased"], splits=is_splits, seed=seed)
                    result[name] = {"mean": r["mean"], "std": r["std"]}
        if "kid" in metrics:
            r = kernel_inception_distance(passes["real"].features["pool3"], passes["fake"].features["pool3"],
                                          subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
            result["kid"] = {"mean": r["mean"], "std": r["std"], "subset_size": r["subset_size"],
                             "subsets": kid_subsets}
        if "prdc" in metrics:
            f_real, f_fake = passes["real"].features["pool3"], passes["fake"].features["pool3"]
            if (k_pr, k_dc) == (defaults.PR_K, defaults.DC_K):
                result.update(prdc(f_real, f_fake))  # one distance pass for all four
            else:
                result.update(precision_recall(f_real, f_fake, k=k_pr))
                result.update(density_coverage(f_real, f_fake, k=k_dc))
    result.update({
        "n_real": counted("real"),
        "n_fake": counted("fake"),
        "resize": resize if loaded is not None else None,
        "weights_sha256": loaded.sha256 if loaded is not None else None,
        "cache": status,
    })
    return result
