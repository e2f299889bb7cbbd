"""From inputs to scores: one pass of the network per input, every requested metric from it.

Thin orchestration over ``features`` (the network) and ``metrics`` (pure functions); no math here
beyond bookkeeping.
"""

from dataclasses import dataclass, field

import numpy as np

from . import defaults
from .errors import GanEvalError
from .features.extract import iter_features, load_network
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
    for _, out in iter_features(src, loaded, resize, batch_size, device, num_workers, names, progress, precision,
                                quiet=quiet):
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
        device=None, num_workers=None, progress=True, precision="fp32", quiet=False):
    """Fréchet Inception Distance between two inputs.

    Each input is a folder, .zip, .npy/.npz of uint8 images, an .npz of statistics (``mu``,
    ``sigma``), a uint8 array/tensor (NHWC or NCHW) or a float tensor in [0, 1]. Returns a dict
    with ``fid``, ``n1``, ``n2``, ``resize`` and ``weights_sha256`` (None when both inputs are
    statistics files). Sets smaller than 2048 use the exact low-rank computation.
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
            loaded = load_network(weights, quiet=quiet)
        p = feature_pass(src, loaded, resize, batch_size, device, num_workers, progress,
                         keep_pool3_below=defaults.FID_DIMS, precision=precision, quiet=quiet)
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
