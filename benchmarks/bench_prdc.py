"""Precision/recall/density/coverage at 10,000 x 10,000 x 2048: gan_eval against the `prdc` package.

Run: ``python -m benchmarks.bench_prdc [--n 10000] [--dim 2048] [--k 5]``. Each contender runs in
its own spawned process that makes the same seeded float32 features, so the peak resident set
size (``ru_maxrss``) is per contender. "Working memory" is that peak minus the resident size just
before the call (after imports and the features), i.e. what the computation itself added.
Prints a markdown table and appends it to ``benchmarks/RESULTS.md``.
"""

import argparse
import resource
import time

from . import harness
from .machine import describe_machine

def _timed(target, args):
    setup, call = target(*args)
    data = setup()
    before = harness.rss_mib()
    t0 = time.perf_counter()
    value = call(data)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"seconds": seconds, "peak_mib": peak, "work_mib": peak - before, "value": value}


def measure(target, *args):
    """Run ``target(*args) -> (setup, call)`` in a spawned child; time ``call(setup())``."""
    return harness.in_child(_timed, target, args)


def features(n, dim, seed=0, latent=32, noise=0.3, chunk=1000):
    """Seeded float32 features with a low-dimensional structure, like Inception features: a
    32-d Gaussian mapped linearly to `dim` plus isotropic noise; the fake latent is stretched by
    1.15 and shifted by 0.1. Made in row chunks so no large temporary inflates the peak RSS."""
    import numpy as np

    rng = np.random.default_rng(seed)
    w = rng.standard_normal((latent, dim), dtype=np.float32) / np.float32(np.sqrt(latent))
    sets = []
    for scale, shift in ((1.0, 0.0), (1.15, 0.1)):
        x = np.empty((n, dim), dtype=np.float32)
        for i in range(0, n, chunk):
            rows = min(chunk, n - i)
            z = rng.standard_normal((rows, latent), dtype=np.float32) * np.float32(scale) + np.float32(shift)
            x[i:i + rows] = z @ w + rng.standard_normal((rows, dim), dtype=np.float32) * np.float32(noise)
        sets.append(x)
    return tuple(sets)


def contender(name, n, dim, k):
    if name == "prdc":
        import contextlib
        import io

        import prdc

        def call(data):
            with contextlib.redirect_stdout(io.StringIO()):
                return {key: float(v) for key, v in prdc.compute_prdc(*data, nearest_k=k).items()}
    else:
        from gan_eval.metrics.prdc import prdc as ours

        dtype = "float64" if name.endswith("float64") else "float32"

        def call(data):
            return ours(*data, k=k, dtype=dtype)

    return (lambda: features(n, dim)), call


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--no-append", action="store_true", help="print only; do not touch RESULTS.md")
    a = ap.parse_args(argv)
    names = ["prdc", "gan_eval float32", "gan_eval float64"]
    runs = {}
    where = describe_machine()
    for name in names:
        runs[name] = measure(contender, name, a.n, a.dim, a.k)
        print(f"{name}: {runs[name]['seconds']:.1f} s", flush=True)
    ref = runs["prdc"]
    lines = [
        f"N = M = {a.n}, D = {a.dim}, k = {a.k}, seeded float32 features (see `features()`); {where}.",
        "",
        "| implementation | time (s) | speed-up | peak RSS (MiB) | working memory (MiB) | share of prdc's | "
        "precision | recall | density | coverage |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        r, v = runs[name], runs[name]["value"]
        lines.append(
            f"| {'prdc 0.2 `compute_prdc`' if name == 'prdc' else '`gan_eval` ' + name.split()[1]} | "
            f"{r['seconds']:.1f} | {ref['seconds'] / r['seconds']:.1f}x | {r['peak_mib']:.0f} | {r['work_mib']:.0f} | "
            f"{r['work_mib'] / ref['work_mib']:.2f} | {v['precision']:.4f} | {v['recall']:.4f} | "
            f"{v['density']:.5f} | {v['coverage']:.4f} |"
        )
    same = all(runs[n]["value"] == ref["value"] for n in names)
    lines += ["", f"All four values identical to prdc's: {'yes' if same else 'no'}."]
    harness.report(f"## PRDC, {a.n} x {a.n} x {a.dim}", lines, not a.no_append)


if __name__ == "__main__":
    main()
