"""Streaming metrics for training loops: feed image batches as they come, read the score any time.

    fid = FID(reference="data/real/")           # real side computed once (and cached on disk)
    for step in range(steps):
        ...
        if step % 1000 == 0:
            fid.reset()                         # clears the fake side, keeps the reference
            for _ in range(20):
                fid.update(G(torch.randn(250, 128, device="cuda")), real=False)
            print(step, fid.compute())

Every class runs the images through the same preprocessing and network as the one-shot functions
(``features.extract.features_of_batch``; quantisation and resize batched on the images' own
device, so CUDA images stay on the GPU): images are uint8 (NCHW, NHWC or NHW) or floats in [0, 1]
(quantised by round(255 x), as saving to PNG would), numpy arrays or tensors on any device. FID
accumulates float64 pool3 moments (``Statistics``), so its memory does not grow with the number of
images, and keeps the pool3 features while a side has fewer than 2048 images, for the exact
low-rank FID; fed the same images it matches :func:`gan_eval.fid` to rounding (1e-10 relative).
KID, IS and the k-NN metrics keep the features (8 KiB per image for pool3), as their one-shot
functions need them all.

``reference=`` fixes the real side: a folder, zip or .npy/.npz of images (one cached network pass),
an .npz of statistics (mu, sigma; FID only), an array or tensor of images, or ``"cache:KEY"``, an
entry of the feature cache named by a key prefix or source path from ``gan-eval cache list``.
``reset()`` clears the fake side, and the real side unless it is a reference.

``features=`` picks the feature space (``gan_eval.features.spaces``: ``inception`` by default,
``dinov2-vitl14``, ``dinov2-vitb14``, ``clip-vitb32``) with ``weights=`` the matching file; FID
then computes FD_DINOv2 etc., and InceptionScore refuses anything but Inception.

Under torch.distributed, ``compute()`` combines the processes' sides first (``_sync``).
"""

import os

import numpy as np
import torch

from . import defaults
from .errors import GanEvalError
from .features.extract import check_outputs, features_of_batch, load_network, resolve_device, resolve_precision
from .stats import Statistics

__all__ = ["FID", "KID", "InceptionScore", "PrecisionRecall", "DensityCoverage"]

POOL3_DIMS = 2048


class _Side:
    """The accumulators of one side (real or fake): pool3 statistics and/or kept features."""

    def __init__(self, whole=(), stats=False, keep_pool3_below=None, device="cpu", dims=POOL3_DIMS):
        self.device, self.dims = device, dims
        self.whole = tuple(whole)
        self.keep_pool3_below = keep_pool3_below
        self.with_stats = stats
        self.fixed = False  # a reference: kept by reset(), the same on every process
        self.moments = None  # (mu, sigma, n) of a statistics-file reference
        self.clear()

    def clear(self):
        self.count = 0
        self.stats = Statistics(self.dims, device=self.device) if self.with_stats else None
        self.parts = {o: [] for o in self.whole}
        self.small = [] if self.keep_pool3_below else None  # pool3 rows while count < keep_pool3_below

    def add(self, out):
        n = next(iter(out.values())).shape[0]
        if self.stats is not None:
            self.stats.update(out["pool3"])
        for o in self.whole:
            self.parts[o].append(out[o])
        self.count += n
        if self.small is not None:
            self.small.append(out["pool3"])
            if self.count >= self.keep_pool3_below:
                self.small = None

    def features(self, output):
        """All kept rows of `output` as one tensor (None when not kept)."""
        rows = self.small if output == "pool3" and output not in self.whole else self.parts.get(output)
        if rows is None:
            return None
        return torch.cat(rows) if rows else torch.zeros((0, self.dims), device=self.device)

    def fid_moments(self, label):
        if self.moments is not None:
            return self.moments + (None,)
        if self.count < 2:
            raise GanEvalError(f"FID needs at least 2 {label} images, got {self.count}: call update() first")
        small = self.features("pool3") if self.small is not None else None
        return self.stats.mean, self.stats.cov, self.count, None if small is None else small.cpu().numpy()


class _StreamingMetric:
    """Shared machinery: the network, update(), reset(), the reference and the distributed sync."""

    outputs = ("pool3",)
    two_sided = True

    def __init__(self, reference=None, weights=None, resize=defaults.DEFAULT_RESIZE, device=None, precision="fp32",
                 cache=True, quiet=False, allow_mismatch=False, features=None):
        from .features import spaces
        from .features.extract import preprocessing

        space = spaces.get(features if features is not None else getattr(weights, "features", None))
        preprocessing(space.name, resize)
        self.features, self.dims = space.name, space.dims
        self.resize, self.quiet, self.allow_mismatch = resize, quiet, allow_mismatch
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device, space.name)  # "auto" resolved once: the cache keys on it
        self._loaded = load_network(weights, quiet=quiet, features=space.name)
        check_outputs(self._loaded, self.outputs)
        self._sides = {"real": self._new_side(), "fake": self._new_side()} if self.two_sided else {"fake": self._new_side()}
        if reference is not None:
            self._sides["real"] = self._reference_side(reference, cache)

    def _new_side(self):
        return _Side(whole=self.outputs, device=self.device, dims=self.dims)

    def update(self, images, real):
        """Add a batch of images to the real (``real=True``) or the generated (``real=False``) side."""
        if not isinstance(real, (bool, np.bool_)):
            raise GanEvalError(f"real must be True or False, got {real!r}")
        side = self._sides["real" if real else "fake"]
        if side.fixed:
            raise GanEvalError("the real side was given as reference=; update() takes generated images only "
                               "(real=False)")
        side.add(features_of_batch(images, self._loaded, self.resize, self.device, self.outputs, self.precision))
        return self

    def reset(self):
        """Clear the generated side, and the real side unless it is a reference."""
        for side in self._sides.values():
            if not side.fixed:
                side.clear()
        return self

    @property
    def counts(self):
        return {name: side.count for name, side in self._sides.items()}

    def _sync(self):
        """The sides to compute on: this process's, or under torch.distributed every process's combined.

        Returns a dict like ``self._sides`` and leaves the local accumulators as they are (so
        compute() can be called again). References are the same on every process and stay as
        they are. A no-op when torch.distributed is not initialised or has one process.
        """
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return self._sides
        try:
            from .distributed import sync_side
        except ImportError:
            raise GanEvalError("streaming metrics under torch.distributed need gan_eval.distributed.sync_side") from None
        return {name: side if side.fixed else sync_side(side) for name, side in self._sides.items()}

    def _reference_side(self, reference, cache):
        """A fixed real side from a path, array, statistics file or "cache:KEY"."""
        from .evaluate import cached_pass
        from .inputs import StatisticsInput, open_input

        side = self._new_side()
        side.fixed = True
        if isinstance(reference, str) and reference.startswith("cache:") and not os.path.exists(reference):
            out, n = self._from_cache(reference[len("cache:"):])
        else:
            src = open_input(reference)
            if isinstance(src, StatisticsInput):
                if not self._accepts_statistics:
                    raise GanEvalError(f"{src.name}: a statistics file (mu, sigma) serves FID only; "
                                       f"{type(self).__name__} needs the reference images' features")
                from . import provenance

                from .features.extract import preprocessing

                run = provenance.for_run(preprocessing(self.features, self.resize)[0], self._loaded.sha256,
                                         provenance.effective_precision(self.precision, self.device, True),
                                         features=self.features)
                provenance.reconcile([(src.name, src.provenance)], run, self.allow_mismatch, self.quiet)
                side.moments = (src.mu, src.sigma, src.count)
                side.count = src.count
                return side
            p, _ = cached_pass(src, self._loaded, self.resize, defaults.DEFAULT_BATCH_SIZE, self.device, None, False,
                               needed=tuple(o for o in self.outputs if o in side.whole), precision=self.precision,
                               quiet=self.quiet, cache=cache)
            out, n = p.features, p.stats
        self._fill(side, out, n)
        return side

    _accepts_statistics = False

    def _from_cache(self, name):
        from . import cache as feature_cache
        from .features.extract import preprocessing

        want = {"weights_sha256": self._loaded.sha256, "resize": preprocessing(self.features, self.resize)[0],
                "precision": self.precision, "features": None if self.features == "inception" else self.features}
        try:
            entry = feature_cache.find(name, prefer=want)
        except ValueError as e:
            raise GanEvalError(str(e)) from None
        if entry is None:
            raise GanEvalError(f"no readable feature-cache entry matches {name!r} (see `gan-eval cache list`)")
        differ = [f"{k} {entry.meta.get(k)!r} != {v!r}" for k, v in want.items() if entry.meta.get(k) != v]
        if differ:
            raise GanEvalError(f"cache entry {entry.key[:12]} was computed with other settings ({'; '.join(differ)})")
        return entry.features, entry.stats

    def _fill(self, side, features, stats):
        missing = [o for o in side.whole if o not in features]
        if missing:
            raise GanEvalError(f"the reference lacks the {', '.join(missing)} features {type(self).__name__} needs")
        side.parts = {o: [torch.as_tensor(features[o]).to(self.device)] for o in side.whole}
        side.count = stats.count
        if side.with_stats:
            side.stats = Statistics(self.dims, device=self.device).merge(stats)
        if side.keep_pool3_below is not None:
            small = features.get("pool3")
            side.small = [torch.as_tensor(small).to(self.device)] if small is not None else None

    def _fake(self, sides, label="generated"):
        side = sides["fake"]
        if side.count == 0:
            raise GanEvalError(f"no {label} images yet: call update(images, real=False) first")
        return side

    def _real(self, sides):
        side = sides["real"]
        if side.count == 0:
            raise GanEvalError("no real images: pass reference= or call update(images, real=True) first")
        return side


class FID(_StreamingMetric):
    """Fréchet Inception Distance, streamed (see :func:`gan_eval.metrics.fid.frechet_distance`).

    ``FID(reference=None, weights=None, resize="tensorflow", device=None, precision="fp32",
    cache=True, quiet=False)``; ``update(images, real)``; ``compute()`` returns the FID (float).
    The accumulators are float64 sums (count, Σx, Σxxᵀ) on `device`; pool3 rows are also kept while
    a side has fewer than 2048 images, for the exact low-rank FID the one-shot path uses.
    """

    _accepts_statistics = True

    def _new_side(self):
        return _Side(stats=True, keep_pool3_below=defaults.FID_DIMS, device=self.device, dims=self.dims)

    def compute(self):
        from .metrics.fid import fid_from_moments

        sides = self._sync()
        self._real(sides)
        self._fake(sides)
        return fid_from_moments(*sides["real"].fid_moments("real"), *sides["fake"].fid_moments("generated"))


class KID(_StreamingMetric):
    """Kernel Inception Distance, streamed (see :func:`gan_eval.metrics.kid.kernel_inception_distance`).

    Keeps the pool3 features; ``compute()`` returns ``{"mean", "std", "subset_size"}`` over
    `subsets` subsets of `subset_size` (shrunk with a warning to the smaller side), seeded by `seed`.
    """

    def __init__(self, reference=None, subsets=defaults.KID_SUBSETS, subset_size=defaults.KID_SUBSET_SIZE,
                 seed=defaults.KID_SEED, **kwargs):
        self.subsets, self.subset_size, self.seed = subsets, subset_size, seed
        super().__init__(reference, **kwargs)

    def compute(self):
        from .metrics.kid import kernel_inception_distance

        sides = self._sync()
        r = kernel_inception_distance(self._real(sides).features("pool3"), self._fake(sides).features("pool3"),
                                      subsets=self.subsets, subset_size=self.subset_size, seed=self.seed)
        return {"mean": r["mean"], "std": r["std"], "subset_size": r["subset_size"]}


class InceptionScore(_StreamingMetric):
    """Inception Score of the generated images, streamed (see
    :func:`gan_eval.metrics.inception_score.inception_score`): logits without bias, `splits`
    splits over a shuffle seeded by `seed`. ``update(images)``; ``compute()`` returns
    ``{"mean", "std"}``. Needs weights with the 1008-class classifier.
    """

    outputs = ("logits_unbiased",)
    two_sided = False

    def __init__(self, splits=defaults.IS_SPLITS, seed=defaults.IS_SEED, **kwargs):
        self.splits, self.seed = splits, seed
        super().__init__(None, **kwargs)

    def update(self, images, real=False):
        if real:
            raise GanEvalError("the Inception Score has no real side: call update(images)")
        return super().update(images, real=False)

    def compute(self):
        from .metrics.inception_score import inception_score

        sides = self._sync()
        r = inception_score(self._fake(sides).features("logits_unbiased"), splits=self.splits, seed=self.seed)
        return {"mean": r["mean"], "std": r["std"]}


class PrecisionRecall(_StreamingMetric):
    """Improved precision and recall (k = 3), streamed (see :func:`gan_eval.metrics.prdc.precision_recall`).

    Keeps the pool3 features; ``compute()`` returns ``{"precision", "recall"}``.
    """

    def __init__(self, reference=None, k=defaults.PR_K, **kwargs):
        self.k = k
        super().__init__(reference, **kwargs)

    def compute(self):
        from .metrics.prdc import precision_recall

        sides = self._sync()
        return precision_recall(self._real(sides).features("pool3"), self._fake(sides).features("pool3"), k=self.k)


class DensityCoverage(PrecisionRecall):
    """Density and coverage (k = 5), streamed (see :func:`gan_eval.metrics.prdc.density_coverage`).

    Keeps the pool3 features; ``compute()`` returns ``{"density", "coverage"}``.
    """

    def __init__(self, reference=None, k=defaults.DC_K, **kwargs):
        super().__init__(reference, k=k, **kwargs)

    def compute(self):
        from .metrics.prdc import density_coverage

        sides = self._sync()
        return density_coverage(self._real(sides).features("pool3"), self._fake(sides).features("pool3"), k=self.k)
