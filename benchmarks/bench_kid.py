"""KID at 5,000 x 5,000 x 2048 (100 subsets of 1000): gan_eval beside torch-fidelity and torchmetrics.

Run: ``python -m benchmarks.bench_kid [--n 5000] [--dim 2048]``. Same child-process measurement
as ``benchmarks.bench_prdc``. The three draw different random subsets (and torch-fidelity and
torchmetrics compute in float32), so their means agree within sampling error, not to the digit.
Two checks follow the table: the spread of gan_eval's mean over seeds 0-7 (the scale of that
sampling error), and the per-subset values of torch-fidelity's and torchmetrics' MMD functions on
gan_eval's own first subsets (which must agree to float32 rounding).
Prints a markdown table and appends it to ``benchmarks/RESULTS.md``.
"""

import argparse

from . import harness
from .bench_prdc import measure
from .machine import describe_machine

SUBSETS, SUBSET_SIZE = 100, 1000


def features(n, dim, seed=0):
    """Non-negative, Inception-pool3-like float32 features; the second set is slightly stretched."""
    import numpy as np

    rng = np.random.default_rng(seed)
    f1 = np.abs(rng.standard_normal((n, dim), dtype=np.float32))
    f2 = np.abs(rng.standard_normal((n, dim), dtype=np.float32))
    f2 *= 1.02
    return f1, f2


def contender(name, n, dim):
    if name == "torch-fidelity":
        import torch
        from torch_fidelity.metric_kid import kid_features_to_metric

        def call(data):
            r = kid_features_to_metric(*(torch.from_numpy(f) for f in data), kid_subsets=SUBSETS,
                                       kid_subset_size=SUBSET_SIZE, verbose=False, rng_seed=0)
            return r["kernel_inception_distance_mean"], r["kernel_inception_distance_std"]
    elif name == "torchmetrics":
        import warnings

        import torch
        from torchmetrics.image.kid import KernelInceptionDistance

        def call(data):
            torch.manual_seed(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                metric = KernelInceptionDistance(feature=torch.nn.Identity(), subsets=SUBSETS,
                                                 subset_size=SUBSET_SIZE)
            metric.update(torch.from_numpy(data[0]), real=True)
            metric.update(torch.from_numpy(data[1]), real=False)
            mean, std = metric.compute()
            return float(mean), float(std)
    else:
        from gan_eval.metrics.kid import kernel_inception_distance

        algorithm = "subsets" if "per-subset" in name else "auto"

        def call(data):
            r = kernel_inception_distance(*data, subsets=SUBSETS, subset_size=SUBSET_SIZE, algorithm=algorithm)
            return r["mean"], r["std"]

    return (lambda: features(n, dim)), call


def agreement(n, dim, ours_mean, others, seeds=8, check_subsets=5):
    """Sentences on how the means compare with gan_eval's seed-to-seed spread, and on the
    per-subset values of the other implementations' MMD code on gan_eval's subsets."""
    import numpy as np
    import torch
    from torch_fidelity.metric_kid import kernel_mmd
    from torchmetrics.image.kid import poly_mmd

    from gan_eval.metrics.kid import kernel_inception_distance, subset_indices

    f1, f2 = features(n, dim)
    means = [ours_mean] + [kernel_inception_distance(f1, f2, subsets=SUBSETS, subset_size=SUBSET_SIZE,
                                                     seed=s)["mean"] for s in range(1, seeds)]
    spread = float(np.std(means, ddof=1))
    if spread > 0:
        diffs = ", ".join(f"{name} {(m - ours_mean) / spread:+.1f}" for name, m in others.items())
        first = (f"gan_eval's mean over seeds 0-{seeds - 1}: {np.mean(means):.6f}, standard deviation {spread:.6f}; the "
                 f"other means differ from ours (seed 0) by {diffs} of those standard deviations.")
    else:  # subsets as large as the sets: every seed draws the same ones
        diffs = ", ".join(f"{name} {(m - ours_mean) / abs(ours_mean):+.1e}" for name, m in others.items())
        first = (f"gan_eval's mean is {ours_mean:.6f} for every seed (each subset is the whole set); the other means "
                 f"differ from it by a relative {diffs}.")
    ours = kernel_inception_distance(f1, f2, subsets=check_subsets, subset_size=SUBSET_SIZE)["values"]
    rel = {"torch-fidelity": [], "torchmetrics": []}
    for v, (i, j) in zip(ours, subset_indices(n, n, check_subsets, SUBSET_SIZE)):
        tf = kernel_mmd(f1[i], f2[j], kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                        kid_kernel_poly_coef0=1)
        tm = float(poly_mmd(torch.from_numpy(f1[i]), torch.from_numpy(f2[j])))
        rel["torch-fidelity"].append(abs(tf - v) / abs(v))
        rel["torchmetrics"].append(abs(tm - v) / abs(v))
    return [
        first,
        f"On gan_eval's first {check_subsets} subsets, the float32 MMD code of torch-fidelity and torchmetrics gives "
        f"per-subset values within a relative {max(rel['torch-fidelity']):.1e} and {max(rel['torchmetrics']):.1e} "
        "of ours.",
    ]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5_000)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--no-append", action="store_true", help="print only; do not touch RESULTS.md")
    a = ap.parse_args(argv)
    names = ["gan_eval", "gan_eval per-subset", "torch-fidelity", "torchmetrics"]
    labels = {
        "gan_eval": "`gan_eval` float64, `algorithm=\"auto\"`",
        "gan_eval per-subset": "`gan_eval` float64, `algorithm=\"subsets\"`",
        "torch-fidelity": "torch-fidelity `kid_features_to_metric` (float32)",
        "torchmetrics": "torchmetrics `KernelInceptionDistance` (float32)",
    }
    where = describe_machine()
    runs = {}
    for name in names:
        runs[name] = measure(contender, name, a.n, a.dim)
        print(f"{name}: {runs[name]['seconds']:.1f} s", flush=True)
    ours_mean = runs["gan_eval"]["value"][0]
    lines = [
        f"n1 = n2 = {a.n}, D = {a.dim}, {SUBSETS} subsets of {SUBSET_SIZE}, cubic polynomial kernel, seeded "
        f"|N(0,1)| features (second set x 1.02); {where}. At this size `auto` means `full`.",
        "",
        "| implementation | time (s) | peak RSS (MiB) | working memory (MiB) | KID mean | KID std |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        r = runs[name]
        mean, std = r["value"]
        lines.append(f"| {labels[name]} | {r['seconds']:.1f} | {r['peak_mib']:.0f} | {r['work_mib']:.0f} | "
                     f"{mean:.6f} | {std:.6f} |")
    lines += [""] + agreement(a.n, a.dim, ours_mean, {n: runs[n]["value"][0] for n in names[2:]})
    harness.report(f"## KID, {a.n} x {a.n} x {a.dim}", lines, not a.no_append)


if __name__ == "__main__":
    main()
