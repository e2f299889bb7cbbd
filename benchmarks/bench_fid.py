"""FID from 2048-d statistics: gan_eval against pytorch-fid, torchmetrics and torch-fidelity.

Run: ``python -m benchmarks.bench_fid [--n 5000] [--dim 2048] [--rounds 3] [--quick] [--no-append]``.

Two seeded feature sets shaped like Inception pool3 features (non-negative, correlated: the ReLU
of a random linear map of Gaussian noise, N = 5000 each) give two means and float64
covariances; every contender gets the same four arrays and computes only the distance:

* gan_eval ``frechet_distance``: Cholesky factor L of Σ1, then the eigenvalues of the symmetric
  matrix Lᵀ Σ2 L (torch float64, LAPACK syevd through MKL);
* pytorch-fid ``calculate_frechet_distance``: ``scipy.linalg.sqrtm(Σ1 Σ2)`` (Schur method);
* torchmetrics ``_compute_fid``: ``torch.linalg.eigvals(Σ1 @ Σ2)`` (general eigenvalues);
* torch-fidelity ``fid_statistics_to_metric``: ``numpy.linalg.eigvals(Σ1 · Σ2)``.

Interleaved rounds, median wall time; CPU time and peak extra resident memory beside it. The goals
of issue 2: at least 10x pytorch-fid and 2x the fastest peer, values within 1e-6 relative.
"""

import argparse
import contextlib
import io
import time
import warnings

import numpy as np

from . import harness

HEADING = "## FID from statistics (issues 2 and 7)"


def statistics_pair(n, dim, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for shift in (0.0, 0.15):
        w = rng.standard_normal((dim, dim)) / np.sqrt(dim)
        x = np.maximum(rng.standard_normal((n, dim)) @ w + shift, 0.0)
        out += [x.mean(0), np.cov(x, rowvar=False)]
    return out


def contenders(mu1, s1, mu2, s2):
    import torch

    def ours():
        from gan_eval.metrics.fid import frechet_distance

        return frechet_distance(mu1, s1, mu2, s2)

    def pytorch_fid():
        from pytorch_fid.fid_score import calculate_frechet_distance

        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(calculate_frechet_distance(mu1, s1, mu2, s2))

    t = [torch.from_numpy(a) for a in (mu1, s1, mu2, s2)]

    def torchmetrics():
        from torchmetrics.image.fid import _compute_fid

        return float(_compute_fid(*t))

    def torch_fidelity():
        from torch_fidelity.metric_fid import fid_statistics_to_metric

        r = fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, verbose=False)
        return float(r["frechet_inception_distance"])

    return {"gan_eval": ours, "pytorch-fid 0.3": pytorch_fid, "torchmetrics": torchmetrics,
            "torch-fidelity": torch_fidelity}


def breakdown(s1, s2):
    """CPU seconds of the three steps of gan_eval's trace_sqrt_product."""
    import torch

    from gan_eval.metrics.fid import _one_thread

    a, b = torch.from_numpy(s1), torch.from_numpy(s2)
    steps = {}
    c0 = time.process_time()
    factor = torch.linalg.cholesky(a)
    steps["Cholesky"] = time.process_time() - c0
    c0 = time.process_time()
    m = factor.T @ b @ factor
    steps["Lᵀ Σ2 L"] = time.process_time() - c0
    c0 = time.process_time()
    with _one_thread():
        torch.linalg.eigvalsh((m + m.T) / 2)
    steps["eigvalsh (1 thread)"] = time.process_time() - c0
    return steps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="n=1000, dim=256; print only")
    ap.add_argument("--no-append", action="store_true", help="print only; do not touch RESULTS.md")
    a = ap.parse_args(argv)
    if a.quick:
        a.n, a.dim, a.no_append = 1000, 256, True
    import torch

    machine = harness.machine_line()
    mu1, s1, mu2, s2 = statistics_pair(a.n, a.dim)
    small = contenders(*statistics_pair(200, 64, seed=1))  # warm-up: imports, thread pools
    res = harness.interleaved(contenders(mu1, s1, mu2, s2), rounds=a.rounds, warmup=small)
    ours = res["gan_eval"]
    t_ours = harness.median(ours["wall"])
    rows = ["| implementation | method | wall s (median) | CPU s | peak extra MiB | FID | rel. diff to gan_eval "
            "| gan_eval faster by |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    methods = {"gan_eval": "Cholesky + `eigvalsh` (torch float64)", "pytorch-fid 0.3": "`scipy.linalg.sqrtm`",
               "torchmetrics": "`torch.linalg.eigvals`", "torch-fidelity": "`numpy.linalg.eigvals`"}
    peers = {}
    for name, r in res.items():
        if r["error"]:
            rows.append(f"| {name} | {methods[name]} | failed: {r['error']} | | | | | |")
            continue
        t = harness.median(r["wall"])
        rel = harness.rel_diff(r["value"], ours["value"])
        speed = "" if name == "gan_eval" else f"{harness.ratio(t_ours, t):.1f}x"
        if name != "gan_eval":
            peers[name] = (t, rel)
        rows.append(f"| {name} | {methods[name]} | {t:.2f} | {harness.median(r['cpu']):.2f} | "
                    f"{harness.median(r['mib']):.0f} | {r['value']:.6f} | {rel:.1e} | {speed} |")
    steps = breakdown(s1, s2)
    lines = [f"{machine}; load average at end {harness.load_line()}; torch threads {torch.get_num_threads()}.",
             "",
             f"Two seeded sets of N = {a.n} features of {a.dim} dimensions (ReLU of a random linear map of Gaussian "
             f"noise), float64 means and covariances; each contender computes the distance only. Median of "
             f"{a.rounds} interleaved rounds (after a warm-up on a 64-d problem).",
             "", *rows, ""]
    pf = peers.get("pytorch-fid 0.3")
    fast = [(t, n) for n, (t, _) in peers.items() if n != "pytorch-fid 0.3"]
    if pf:
        x = harness.ratio(t_ours, pf[0])
        lines.append(f"- Goal ≥10x pytorch-fid's scipy path: **{'met' if x >= 10 else 'not met'}** ({x:.1f}x).")
    if fast:
        t, n = min(fast)
        x = harness.ratio(t_ours, t)
        lines.append(f"- Goal ≥2x the fastest peer ({n}): **{'met' if x >= 2 else 'not met'}** ({x:.1f}x).")
    worst = max((rel for _, rel in peers.values()), default=float("nan"))
    lines.append(f"- Agreement: largest relative difference to a peer {worst:.1e} "
                 f"(goal ≤1e-6: **{'met' if worst <= 1e-6 else 'not met'}**).")
    total = sum(steps.values())
    lines.append("- Where gan_eval's time goes (CPU s): " + ", ".join(
        f"{k} {v:.2f} ({100 * v / total:.0f}%)" for k, v in steps.items()) + ".")
    lines += ["", harness.load_note(machine)]
    harness.report(HEADING, lines, not a.no_append)


if __name__ == "__main__":
    main()
