"""From inputs to scores: one pass of the network per input, every requested metric from it.

Thin orchestration over ``features`` (the network) and ``metrics`` (pure functions); no math here
beyond bookkeeping.
"""

from dataclasses import dataclass, field

import numpy as np

from . import defaults, distributed, provenance
from .errors import GanEvalError
from .features import spaces
from .features.extract import check_outputs, iter_features, load_network, preprocessing, resolve_precision
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
    stats = Statistics(spaces.get(loaded.features).dims)
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
        raise GanEvalError(f"{name}: a Fréchet distance needs at least 2 images, got {n}")


def _space(features, weights):
    return spaces.get(features if features is not None else getattr(weights, "features", None))


def compute_statistics(source, weights=None, resize=defaults.DEFAULT_RESIZE, batch_size=defaults.DEFAULT_BATCH_SIZE,
                       device=None, num_workers=None, progress=True, precision="fp32", quiet=False, output=None,
                       features=None):
    """Mean and covariance of the features of `source` without holding all features.

    `source` is any image input :func:`fid` takes (a statistics file already is statistics:
    GanEvalError); `features` the feature space (``features.spaces``; default Inception pool3).
    Returns ``(mu, sigma, n)`` (float64); ``mu``/``sigma`` are what pytorch-fid's .npz files hold.
    With `output`, also writes them there with ``n`` and the provenance (``gan_eval.provenance``;
    ``.npz`` is appended to a name without it).
    """
    from .devices import resolve_device

    space = _space(features, weights)
    prep = preprocessing(space.name, resize)[0]
    src = open_input(source)
    if isinstance(src, StatisticsInput):
        raise GanEvalError(f"{src.name}: already a statistics file; compute_statistics takes images")
    precision = resolve_precision(precision, device, space.name)
    record = provenance.for_run(prep, None, provenance.effective_precision(precision, resolve_device(device), quiet),
                                features=space.name)
    loaded = load_network(weights, quiet=quiet, features=space.name)
    p = feature_pass(src, loaded, resize, batch_size, device, num_workers, progress, precision=precision,
                     quiet=quiet)
    _check_count(p.count, p.name)
    if output is not None:
        from dataclasses import replace

        from .statsfile import save_statistics

        save_statistics(output, p.stats.mean, p.stats.cov, p.count, replace(record, weights_sha256=loaded.sha256))
    return p.stats.mean, p.stats.cov, p.count


def fid(source1, source2, weights=None, resize=defaults.DEFAULT_RESIZE, batch_size=defaults.DEFAULT_BATCH_SIZE,
        device=None, num_workers=None, progress=True, precision="fp32", quiet=False, cache=True,
        allow_mismatch=False, features=None, infinity=False, ci=None, bootstrap=defaults.BOOTSTRAP_REPLICATES,
        seed=defaults.SEED):
    """Fréchet distance between two inputs: the FID in Inception's feature space (default),
    FD_DINOv2, FD_CLIP ... in the space named by `features` (``features.spaces``).

    Each input is a folder, .zip, .npy/.npz of uint8 images, an .npz of statistics (``mu``,
    ``sigma``), a dataset name, a uint8 array/tensor (NHWC or NCHW) or a float tensor in [0, 1].
    Returns a dict with ``fid`` (Inception) or ``fd`` (other spaces), ``n1``, ``n2``, the settings
    the value stands on (``features``, ``resize`` (Inception's resize mode, or the space's name for
    its fixed preprocessing), ``weights_sha256``, ``network_precision`` (the arithmetic that ran,
    "auto" resolved)) and ``inputs``: per input its
    source, kind, count, cache status and settings (see ``gan_eval.provenance``). A statistics file
    recorded with other settings than the run's (or, when both inputs are statistics, than the
    other file's) raises GanEvalError unless ``allow_mismatch=True``. Sets smaller than 2048 use
    the exact low-rank computation. With ``cache=True`` the network outputs of file inputs are read
    from / written to the feature cache (see ``gan_eval.cache``).

    ``infinity=True`` adds ``fid_infinity`` / ``fd_infinity`` (:func:`gan_eval.metrics.infinity.
    fid_infinity` of `source2` against `source1`, with its points); ``ci=0.95`` adds ``fid_ci`` /
    ``fd_ci``, a bootstrap interval over `bootstrap` resamples (``metrics.bootstrap.fid_ci``),
    both seeded by `seed` and computed from the kept features (no further network pass).
    """
    import warnings

    space = _space(features, weights)
    preprocessing(space.name, resize)
    key = "fid" if space.name == spaces.DEFAULT else "fd"
    precision = resolve_precision(precision, device, space.name)
    srcs = [open_input(source1), open_input(source2)]
    whole = ("pool3",) if (infinity or ci) else ()
    for side, src in enumerate(srcs):
        if isinstance(src, StatisticsInput) and (ci or (infinity and side == 1)):
            raise GanEvalError(f"{src.name}: a statistics file has no per-image features, which "
                               f"{'bootstrap intervals' if ci else 'the extrapolation'} need")
    loaded, run = _run_record(srcs, weights, resize, device, precision, quiet, space)
    basis = provenance.reconcile([(s.name, s.provenance) for s in srcs if isinstance(s, StatisticsInput)], run,
                                 allow_mismatch, quiet)
    moments, sides = [], []
    for src in srcs:
        if isinstance(src, StatisticsInput):
            moments.append((src.mu, src.sigma, src.count, None))
            sides.append(_statistics_side(src, basis))
            continue
        p, status = cached_pass(src, loaded, resize, batch_size, device, num_workers, progress, needed=whole,
                                precision=precision, quiet=quiet, cache=cache)
        _check_count(p.count, p.name)
        moments.append((p.stats.mean, p.stats.cov, p.count, p.features.get("pool3")))
        sides.append(provenance.side(src.name, "images", p.count, run, status))
    (m1, s1, n1, f1), (m2, s2, n2, f2) = moments
    if m1.shape != m2.shape:
        raise GanEvalError(
            f"dimension mismatch: {srcs[0].name} has {m1.shape[0]}-d statistics, {srcs[1].name} has {m2.shape[0]}-d")
    result = {}
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        result[key] = fid_from_moments(m1, s1, n1, f1, m2, s2, n2, f2)
        if infinity:
            from .metrics.infinity import fid_infinity

            result[key + "_infinity"] = fid_infinity((m1, s1) if f1 is None else f1, f2, seed=seed)
        if ci:
            from .metrics.bootstrap import fid_ci

            result[key + "_ci"] = fid_ci(f1, f2, replicates=bootstrap, level=ci, seed=seed)
    result.update({"n1": n1, "n2": n2, **_settings(basis), "inputs": sides})
    return result


def _run_record(srcs, weights, resize, device, precision, quiet, space):
    """(LazyNetwork, Provenance) of a run that passes images through the network; (None, None)
    when every input is a statistics file. Checks the device first, so that an impossible
    ``--device`` fails even when the cache would serve every input."""
    from .devices import resolve_device

    dev = resolve_device(device)
    if all(isinstance(s, StatisticsInput) for s in srcs):
        return None, None
    loaded = LazyNetwork(weights, quiet=quiet, features=space.name)
    return loaded, provenance.for_run(preprocessing(space.name, resize)[0], loaded.sha256,
                                      provenance.effective_precision(precision, dev, quiet), features=space.name)


def _statistics_side(src, basis):
    recorded = src.provenance is not None
    return provenance.side(src.name, "statistics", src.count, src.provenance if recorded else basis, None, recorded)


def _settings(basis):
    """The settings a value stands on; the arithmetic is ``network_precision`` (``score``'s
    ``precision`` is the metric)."""
    names = {"features": "features", "resize": "resize", "weights_sha256": "weights_sha256",
             "precision": "network_precision"}
    return {out: getattr(basis, k) if basis is not None else None for k, out in names.items()}


def _location(src):
    """Absolute path of a file input, for the cache's bookkeeping."""
    from pathlib import Path

    path = getattr(src, "root", None) or getattr(src, "path", None) or src.name
    return str(Path(path).resolve())


class LazyNetwork:
    """The weights' file and sha256 at once; the network itself only when a pass needs it, so a
    run served by the feature cache does not spend seconds building it."""

    def __init__(self, weights=None, quiet=False, features=None):
        from .features import weights as weights_mod

        self.quiet = quiet
        self.features = _space(features, weights).name
        if hasattr(weights, "sha256") and hasattr(weights, "model"):  # already loaded
            if weights.features != self.features:
                raise GanEvalError(f"weights loaded for {weights.features}, not {self.features}")
            self.path, self.sha256, self._loaded = weights.path, weights.sha256, weights
        else:
            if self.features == spaces.DEFAULT:
                self.path = weights_mod.resolve(weights)
            else:
                from .features import vit

                self.path = vit.resolve(self.features, weights)
            self.sha256, self._loaded = weights_mod.sha256_of(self.path), None

    def get(self):
        if self._loaded is None:
            self._loaded = load_network(self.path, quiet=self.quiet, features=self.features)
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

    precision = resolve_precision(precision, device, loaded.features)  # the cache keys on what runs, not "auto"
    n = len(src)
    keep = feature_cache.stored_outputs(n, needed)
    signature = src.signature() if cache else None
    fingerprint = src.fingerprint() if cache else None
    space = loaded.features
    prep = preprocessing(space, resize)[0]
    if fingerprint is not None:
        entry = feature_cache.lookup(fingerprint, loaded.sha256, prep, precision, n, keep, space)
        if distributed.all_true(entry is not None):  # under torch.distributed: every rank hit, or all run
            return FeaturePass(src.name, entry.stats, {o: entry.features[o] for o in keep}), "hit"
    loaded = loaded.get() if isinstance(loaded, LazyNetwork) else loaded
    check_outputs(loaded, keep)  # before any image is decoded
    p = feature_pass(src, loaded, resize, batch_size, device, num_workers, progress, keep=keep, outputs=keep,
                     precision=precision, quiet=quiet)
    if fingerprint is None:
        return p, "off"
    if signature is not None and src.signature() == signature and distributed.is_main():
        feature_cache.store(fingerprint, loaded.sha256, prep, precision, src.name, _location(src), p.stats,
                            p.features, space)
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


def score(real, fake, metrics=None, weights=None, resize=defaults.DEFAULT_RESIZE,
          batch_size=defaults.DEFAULT_BATCH_SIZE, device=None, num_workers=None, progress=True, cache=True,
          kid_subsets=defaults.KID_SUBSETS, kid_subset_size=defaults.KID_SUBSET_SIZE, k_pr=defaults.PR_K,
          k_dc=defaults.DC_K, is_splits=defaults.IS_SPLITS, seed=defaults.SEED, precision="fp32", quiet=False,
          allow_mismatch=False, features=None, infinity=False, ci=None, bootstrap=defaults.BOOTSTRAP_REPLICATES):
    """Several metrics of FAKE against REAL from one network pass per input.

    `features` names the feature space (``features.spaces``; default Inception). Outside
    Inception's space the Fréchet and kernel distances are reported as ``fd`` and ``kd`` (FD_DINOv2,
    KD_CLIP, ...), precision/recall/density/coverage are measured in that space, and ``is`` is
    unavailable (it needs Inception's classifier; the default metric set leaves it out there).
    ``infinity=True`` adds ``fid_infinity`` (and ``kid_infinity`` with kid; ``fd_``/``kd_`` outside
    Inception), the extrapolations of ``metrics.infinity``; ``ci=0.95`` adds ``<metric>_ci``
    intervals (``metrics.bootstrap``): bootstrap over `bootstrap` resamples for fid and kid,
    `bootstrap` random half-sample splits for precision, recall, density and coverage. Both reuse
    the kept features and `seed`.

    `metrics`: any of ``fid`` (Fréchet Inception Distance), ``is`` (Inception Score of FAKE,
    logits without bias, `is_splits` splits), ``kid`` (Kernel Inception Distance, `kid_subsets`
    subsets of `kid_subset_size`), ``prdc`` (precision/recall with k = `k_pr`, density/coverage
    with k = `k_dc`). None (the default) asks for all four, less ``is`` (with a warning saying so)
    when the weights hold Inception features only; named explicitly, every metric must be
    computable. Inputs are what :func:`fid` takes; a statistics .npz can stand for REAL only
    with fid and is (and for FAKE only with fid): the others need the images' features. With
    ``is`` alone, REAL is not read at all. `seed` seeds the IS shuffle and the KID subsets. When
    REAL's images go through the network anyway (for fid, kid or prdc) and ``is`` is asked for,
    the Inception Score of REAL is reported too (``is_real``), as a reference for the fake one.
    A statistics file recorded with other settings than the run's raises GanEvalError unless
    ``allow_mismatch=True`` (see :func:`fid`).

    Returns a dict: ``fid``; ``is`` and ``is_real`` as ``{"mean", "std"}`` over the splits; ``kid``
    as ``{"mean", "std", "subset_size", "subsets"}``; ``precision``, ``recall``, ``density``,
    ``coverage``; then ``n_real``, ``n_fake``, ``features``, ``resize``, ``weights_sha256``,
    ``network_precision`` (the arithmetic that ran, "auto" resolved), ``cache`` (``{"real": ..., "fake": ...}``: hit, miss, off
    or None when the side needed no pass), ``skipped`` (metric -> reason) and ``inputs`` (per side:
    source, kind, count, cache status and settings).
    """
    import warnings

    from .errors import WeightsError
    from .metrics.inception_score import inception_score
    from .metrics.kid import kernel_inception_distance
    from .metrics.prdc import density_coverage, precision_recall, prdc

    space = _space(features, weights)
    preprocessing(space.name, resize)
    fd, kd = ("fid", "kid") if space.name == spaces.DEFAULT else ("fd", "kd")
    defaulted = metrics is None
    metrics = parse_metrics(METRICS if defaulted else metrics)
    if space.name != spaces.DEFAULT:
        if "is" in metrics and not defaulted:
            raise GanEvalError(f"the Inception Score needs Inception's classifier; drop is from --metrics with "
                               f"--features {space.name}")
        metrics = tuple(m for m in metrics if m != "is")
    precision = resolve_precision(precision, device, space.name)
    extra = bool(infinity or ci)
    skipped = {}
    real_used = bool({"fid", "kid", "prdc"} & set(metrics))
    if not real_used and not quiet:
        warnings.warn(f"{real}: REAL is not read; {', '.join(metrics)} score{'s' if len(metrics) == 1 else ''} FAKE "
                      "alone", stacklevel=2)
    srcs = {"real": open_input(real) if real_used else None, "fake": open_input(fake)}
    for side, src in srcs.items():
        if isinstance(src, StatisticsInput) and extra and (ci or side == "fake"):
            raise GanEvalError(f"{src.name}: a statistics file has no per-image features, which "
                               f"{'bootstrap intervals' if ci else 'the extrapolation'} need")
        bad = [m for m in metrics if m not in _STATS_OK[side]]
        if isinstance(src, StatisticsInput) and bad:
            raise GanEvalError(
                f"{src.name}: a statistics file (mu, sigma) can stand for {side.upper()} only with "
                f"{' and '.join(_STATS_OK[side])}; {', '.join(bad)} need{'s' if len(bad) == 1 else ''} the images")
    loaded, run = _run_record([s for s in srcs.values() if s is not None], weights, resize, device, precision, quiet,
                              space)
    files = [(s.name, s.provenance) for s in srcs.values() if isinstance(s, StatisticsInput)]
    basis = provenance.reconcile(files, run, allow_mismatch, quiet)

    def needed_outputs():
        whole = ("pool3",) if {"kid", "prdc"} & set(metrics) or extra else ()
        logits = ("logits_unbiased",) if "is" in metrics else ()
        real_runs = srcs["real"] is not None and not isinstance(srcs["real"], StatisticsInput)
        return {"real": whole + logits if real_runs else None,
                "fake": None if isinstance(srcs["fake"], StatisticsInput) else whole + logits}

    needed = needed_outputs()
    passes, status = {}, {"real": None, "fake": None}
    for side in ("real", "fake"):
        if needed[side] is None:
            continue
        try:
            passes[side], status[side] = cached_pass(srcs[side], loaded, resize, batch_size, device, num_workers,
                                                     progress, needed[side], precision, quiet, cache)
        except WeightsError:
            # The default metric set drops IS when the weights have no classifier; asked for by name, it fails.
            if not (defaulted and "is" in metrics and not loaded.get().has_logits) or len(metrics) == 1:
                raise
            skipped["is"] = f"{loaded.path} holds Inception features only (no 1008-class classifier)"
            if not quiet:
                warnings.warn(f"skipped is: {skipped['is']}; computing {', '.join(m for m in metrics if m != 'is')}",
                              stacklevel=2)
            metrics = tuple(m for m in metrics if m != "is")
            needed = needed_outputs()
            passes, status = {}, {"real": None, "fake": None}
            for again in ("real", "fake"):
                if needed[again] is not None:
                    passes[again], status[again] = cached_pass(srcs[again], loaded, resize, batch_size, device,
                                                               num_workers, progress, needed[again], precision, quiet,
                                                               cache)
            break

    def counted(side):
        if side in passes:
            return passes[side].count
        if srcs[side] is None:
            return None
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
            result[fd] = fid_from_moments(*moments[0], *moments[1])
        if "is" in metrics:
            for side, name in (("fake", "is"), ("real", "is_real")):
                if side in passes:
                    r = inception_score(passes[side].features["logits_unbiased"], splits=is_splits, seed=seed)
                    result[name] = {"mean": r["mean"], "std": r["std"]}
        if "kid" in metrics:
            r = kernel_inception_distance(passes["real"].features["pool3"], passes["fake"].features["pool3"],
                                          subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
            result[kd] = {"mean": r["mean"], "std": r["std"], "subset_size": r["subset_size"],
                          "subsets": kid_subsets}
        if "prdc" in metrics:
            f_real, f_fake = passes["real"].features["pool3"], passes["fake"].features["pool3"]
            if (k_pr, k_dc) == (defaults.PR_K, defaults.DC_K):
                result.update(prdc(f_real, f_fake))  # one distance pass for all four
            else:
                result.update(precision_recall(f_real, f_fake, k=k_pr))
                result.update(density_coverage(f_real, f_fake, k=k_dc))
        result.update(_uncertainty(metrics, passes, srcs, fd, kd, infinity, ci, bootstrap, seed, kid_subsets,
                                   kid_subset_size, k_pr, k_dc))

    def side_record(side):
        src = srcs[side]
        if src is None:
            return None
        if isinstance(src, StatisticsInput):
            return _statistics_side(src, basis)
        return provenance.side(src.name, "images", counted(side), run if side in passes else None, status[side])

    settings = _settings(basis)
    result.update({
        "n_real": counted("real"),
        "n_fake": counted("fake"),
        **settings,
        "cache": status,
        "skipped": skipped,
        "inputs": {"real": side_record("real"), "fake": side_record("fake")},
    })
    return result


def _uncertainty(metrics, passes, srcs, fd, kd, infinity, ci, bootstrap, seed, kid_subsets, kid_subset_size, k_pr,
                 k_dc):
    """The ``*_infinity`` extrapolations and ``*_ci`` bootstrap intervals asked for, from kept features."""
    from .metrics import bootstrap as boot
    from .metrics import infinity as inf

    out = {}
    fake = passes["fake"].features["pool3"] if "fake" in passes else None
    real = passes["real"].features["pool3"] if "real" in passes else None
    if infinity and "fid" in metrics:
        ref = real if real is not None else (srcs["real"].mu, srcs["real"].sigma)
        out[fd + "_infinity"] = inf.fid_infinity(ref, fake, seed=seed)
    if infinity and "kid" in metrics:
        out[kd + "_infinity"] = inf.kid_infinity(real, fake, subsets=kid_subsets, seed=seed)
    if ci:
        if "fid" in metrics:
            out[fd + "_ci"] = boot.fid_ci(real, fake, replicates=bootstrap, level=ci, seed=seed)
        if "kid" in metrics:
            out[kd + "_ci"] = boot.kid_ci(real, fake, replicates=bootstrap, level=ci, seed=seed, subsets=kid_subsets,
                                          subset_size=kid_subset_size)
        if "prdc" in metrics:
            for name, v in boot.prdc_ci(real, fake, replicates=bootstrap, level=ci, seed=seed, k_pr=k_pr,
                                        k_dc=k_dc).items():
                out[name + "_ci"] = v
    return out
