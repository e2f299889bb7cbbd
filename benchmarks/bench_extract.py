"""Feature extraction end to end (PNG files to 2048-d pool3 features): gan_eval against pytorch-fid,
torch-fidelity and torchmetrics, with the same weights, on the same folder.

Run: ``python -m benchmarks.bench_extract [--n 256] [--rounds 3] [--precisions bf16x3,bf16] [--quick]
[--no-append]``.

A seeded folder of N 32x32 RGB PNGs; every contender decodes, resizes to 299 and runs the
network on the CPU, its own way, with its default DataLoader workers, batch size 50:

* gan_eval ``extract_features`` in its ``pytorch-fid`` and ``tensorflow`` (default) resize modes,
  and with ``--precisions`` the tensorflow mode at those precisions too (features compared with
  its fp32 row; issue 20);
* pytorch-fid ``get_activations`` (``InceptionV3([3])``, its CLI's default workers);
* torch-fidelity ``get_featuresdict_from_dataset`` over its ``ImagesPathDataset``;
* torchmetrics ``FrechetInceptionDistance.update`` (``antialias=False``: TF1 bilinear resize),
  PNGs decoded with PIL in the loop (it takes tensors, not files).

Weights: the shared TorchScript Inception converted to pt_inception layout (random weights when
it is absent), loaded by all four. Features must agree within 1e-4 relative: our
``pytorch-fid`` mode with pytorch-fid, our ``tensorflow`` mode with torch-fidelity and
torchmetrics. Throughput is also given in GFLOP/s (11.4 GFLOP per image) against a float32
2048^3 matmul timed in the same rounds. Goals: ≥1.3x pytorch-fid (issue 2), ≥2x the fastest
peer and ≥70% of the matmul rate (issue 7).
"""

import argparse
import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from . import harness

HEADING = "## Feature extraction (issues 2 and 7)"
HEADING_PRECISIONS = "## Feature extraction at each precision, peers in the same run (issue 20)"


def write_pngs(folder, n, size=32, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        base = np.stack([xx, yy, 1 - xx], axis=2) * rng.uniform(40, 200, 3) + rng.uniform(0, 40, 3)
        img = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i:05d}.png")
    return sorted(str(p) for p in folder.glob("*.png"))


def contenders(folder, files, weights_path, loaded, batch_size=50, precisions=()):
    import torch

    def ours(mode, precision="fp32"):
        def run():
            from gan_eval.features.extract import extract_features

            return extract_features(folder, weights=loaded, resize=mode, batch_size=batch_size, progress=False,
                                    precision=precision)
        return run

    import pytorch_fid.inception as pfi
    from pytorch_fid.fid_score import get_activations

    sd = torch.load(weights_path, weights_only=True)
    saved = pfi.load_state_dict_from_url
    pfi.load_state_dict_from_url = lambda *a, **k: sd  # pytorch-fid would download its file
    try:
        pf_model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    finally:
        pfi.load_state_dict_from_url = saved
    pf_workers = min(len(os.sched_getaffinity(0)), 8)  # pytorch-fid's CLI default

    def pytorch_fid():
        with contextlib.redirect_stderr(io.StringIO()):
            return get_activations(files, pf_model, batch_size=batch_size, dims=2048, device="cpu",
                                   num_workers=pf_workers)

    from torch_fidelity.datasets import ImagesPathDataset
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torch_fidelity.utils import get_featuresdict_from_dataset

    tf_model = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(weights_path))

    def torch_fidelity():
        out = get_featuresdict_from_dataset(ImagesPathDataset(files), tf_model, batch_size, cuda=False,
                                            save_cpu_ram=False, verbose=False)
        return out["2048"].numpy()

    from PIL import Image
    from torchmetrics.image.fid import FrechetInceptionDistance

    tm = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights_path), antialias=False)
    captured = []
    tm.inception.register_forward_hook(lambda m, i, o: captured.append(o.detach().clone()))

    def torchmetrics():
        captured.clear()
        tm.reset()
        for start in range(0, len(files), batch_size):
            batch = [np.asarray(Image.open(f).convert("RGB")) for f in files[start:start + batch_size]]
            tm.update(torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2), real=True)
        return torch.cat(captured).reshape(len(files), -1).numpy()

    runs = {"gan_eval, pytorch-fid resize": ours("pytorch-fid"), "gan_eval, tensorflow resize": ours("tensorflow")}
    runs.update({f"gan_eval, tensorflow resize, {p}": ours("tensorflow", p) for p in precisions})
    return {**runs, "pytorch-fid 0.3": pytorch_fid, "torch-fidelity": torch_fidelity, "torchmetrics": torchmetrics}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="PNG images in the folder")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--precisions", default="", help="more precisions for the tensorflow mode, e.g. bf16x3,bf16")
    ap.add_argument("--quick", action="store_true", help="32 images, one round; print only")
    ap.add_argument("--no-append", action="store_true", help="print only; do not touch RESULTS.md")
    a = ap.parse_args(argv)
    if a.quick:
        a.n, a.rounds, a.no_append = 32, 1, True
    import torch

    warnings.simplefilter("ignore")
    machine = harness.machine_line()
    tmp = Path(tempfile.mkdtemp(prefix="bench_extract_"))
    files = write_pngs(tmp / "images", a.n)
    small_files = write_pngs(tmp / "warmup", 8, seed=1)
    weights_path, weights_desc = harness.pt_inception_weights(tmp)
    from gan_eval.features.extract import load_network

    loaded = load_network(str(weights_path), quiet=True)
    precisions = [p for p in a.precisions.split(",") if p and p != "fp32"]
    runs = contenders(tmp / "images", files, weights_path, loaded, precisions=precisions)
    warm = contenders(tmp / "warmup", small_files, weights_path, loaded, precisions=precisions)
    runs["float32 matmul 2048^3"] = warm["float32 matmul 2048^3"] = lambda: harness.matmul_gflops()
    res = harness.interleaved(runs, rounds=a.rounds, warmup=warm)

    mm = res.pop("float32 matmul 2048^3")
    mm_wall = harness.median([v[0] for v in mm["values"]])
    mm_cpu = harness.median([v[1] for v in mm["values"]])
    rates = {}
    rows = ["| implementation | img/s (median wall) | CPU s per image | GFLOP/s | of matmul rate | peak extra MiB "
            "(main process) | rel. diff of features |", "|---|---:|---:|---:|---:|---:|---|"]
    pairs = {"pytorch-fid 0.3": "gan_eval, pytorch-fid resize", "torch-fidelity": "gan_eval, tensorflow resize",
             "torchmetrics": "gan_eval, tensorflow resize"}
    pairs.update({f"gan_eval, tensorflow resize, {p}": "gan_eval, tensorflow resize" for p in precisions})
    agree = {}
    for name, r in res.items():
        if r["error"]:
            rows.append(f"| {name} | failed: {r['error']} | | | | | |")
            continue
        ips = a.n / harness.median(r["wall"])
        rates[name] = ips
        cpu_per_img = harness.median(r["cpu"]) / a.n
        gflops = ips * harness.GFLOP_PER_IMAGE
        diff = ""
        if name in pairs and not res[pairs[name]]["error"]:
            rel = harness.rel_diff(r["value"], res[pairs[name]]["value"])
            if name.startswith("gan_eval"):
                diff = f"{rel:.1e} vs fp32"
            else:
                agree[name] = rel
                diff = f"{rel:.1e} vs {pairs[name].split(', ')[1]}"
        rows.append(f"| {name} | {ips:.2f} | {cpu_per_img:.3f} | {gflops:.0f} | {gflops / mm_wall:.0%} | "
                    f"{harness.median(r['mib']):.0f} | {diff} |")
    rows.append(f"| float32 matmul 2048^3 | | | {mm_wall:.0f} ({mm_cpu:.0f} per CPU-s) | 100% | | |")

    ours_tf, ours_pf = rates.get("gan_eval, tensorflow resize"), rates.get("gan_eval, pytorch-fid resize")
    peers = {n: v for n, v in rates.items() if not n.startswith("gan_eval")}
    lines = [f"{machine}; load average at end {harness.load_line()}; torch threads {torch.get_num_threads()}.", "",
             f"{a.n} seeded 32x32 PNGs, batch size 50, CPU; weights: {weights_desc}. Median of {a.rounds} "
             "interleaved rounds (after a warm-up on 8 images); CPU seconds include the DataLoader workers.",
             "", *rows, ""]

    def goal(text, x, target):
        return f"- {text}: **{'met' if x >= target else 'not met'}** ({x:.2f}x)."

    if ours_pf and "pytorch-fid 0.3" in peers:
        lines.append(goal("Goal ≥1.3x pytorch-fid (same resize)", ours_pf / peers["pytorch-fid 0.3"], 1.3))
    if ours_tf and peers:
        best = max(peers, key=peers.get)
        lines.append(goal(f"Goal ≥2x the fastest peer ({best}), our default mode", ours_tf / peers[best], 2.0))
        for p in precisions:
            rate = rates.get(f"gan_eval, tensorflow resize, {p}")
            if rate:
                lines.append(f"- {p}: {rate / peers[best]:.2f}x the fastest peer, {rate / ours_tf:.2f}x fp32.")
    if ours_tf:
        frac = ours_tf * harness.GFLOP_PER_IMAGE / mm_wall
        cpu_frac = (harness.GFLOP_PER_IMAGE / (harness.median(res["gan_eval, tensorflow resize"]["cpu"]) / a.n)) / mm_cpu
        lines.append(f"- Goal ≥70% of the float32 matmul rate: **{'met' if frac >= 0.7 else 'not met'}** "
                     f"({frac:.0%} of the wall-clock rate; {cpu_frac:.0%} per CPU-second, workers included).")
    if agree:
        worst = max(agree.values())
        lines.append(f"- Features agree within {worst:.1e} relative (goal ≤1e-4: **{'met' if worst <= 1e-4 else 'not met'}**).")
    lines += ["", harness.load_note(machine)]
    harness.report(HEADING_PRECISIONS if precisions else HEADING, lines, not a.no_append)


if __name__ == "__main__":
    main()
