"""gan-eval: scores for generative adversarial networks.

Every metric is a plain function on arrays or tensors; the heavy modules (torch, the network)
are imported on first use of a name, so `import gan_eval` is cheap.
"""

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "GanEvalError": "gan_eval.errors",
    # FID and the feature pipeline
    "fid": "gan_eval.evaluate",
    "compute_statistics": "gan_eval.evaluate",
    "extract_features": "gan_eval.features.extract",
    "frechet_distance": "gan_eval.metrics.fid",
    "fid_from_features": "gan_eval.metrics.fid",
    "Statistics": "gan_eval.stats",
    "open_dataset": "gan_eval.datasets",
    # image metrics from one feature pass
    "score": "gan_eval.evaluate",
    "inception_score": "gan_eval.metrics.inception_score",
    "kernel_inception_distance": "gan_eval.metrics.kid",
    "precision_recall": "gan_eval.metrics.prdc",
    "density_coverage": "gan_eval.metrics.prdc",
    # uncertainty: FID∞ / KID∞ and bootstrap intervals
    "fid_infinity": "gan_eval.metrics.infinity",
    "kid_infinity": "gan_eval.metrics.infinity",
    "bootstrap_ci": "gan_eval.metrics.bootstrap",
    "fid_ci": "gan_eval.metrics.bootstrap",
    "kid_ci": "gan_eval.metrics.bootstrap",
    "prdc_ci": "gan_eval.metrics.bootstrap",
    # distribution estimators
    "parzen_log_likelihood": "gan_eval.metrics.parzen",
    "select_bandwidth": "gan_eval.metrics.parzen",
    "kl_divergence": "gan_eval.metrics.divergence",
    "js_divergence": "gan_eval.metrics.divergence",
    "mmd": "gan_eval.metrics.mmd",
    "mmd_permutation_test": "gan_eval.metrics.mmd",
    # mode coverage
    "mode_coverage": "gan_eval.metrics.modes",
    "stacked_mnist_modes": "gan_eval.metrics.modes",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gan_eval' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
