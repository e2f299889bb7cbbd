"""The GPU benchmark: extraction at each precision and batch size, streaming updates on CUDA
tensors, and the peers side by side, in one command.

Run on a CUDA machine: ``python -m benchmarks.gpu [--n 5000] [--no-append]``. It writes the section
"GPU extraction (issue 20)" of benchmarks/RESULTS.md. Without CUDA it prints one line and exits 0
without touching RESULTS.md (``--device cpu`` runs the same code on the CPU, for its test).

On the same seeded folder of N 32x32 PNGs (decode and resize in DataLoader workers, the
extractor's default count):

* ``extract_features`` in fp32 (no TF32), tf32, bf16x3 (split-bf16 on TF32 tensor cores) and bf16
  (autocast) at batch 50, 200 and 500: img/s end to end (files to features), and each
  precision's largest relative difference of features to the CPU float32 path on the first
  `--ref-n` images;
* the streaming ``FID.update`` on uint8 CUDA tensors already on the GPU (no decode, no host copy);
* pytorch-fid (``get_activations``), torch-fidelity (``get_featuresdict_from_dataset``) and
  torchmetrics (``FrechetInceptionDistance.update``, PNGs decoded in the loop) on the same GPU,
  same weights, batch 200.

Goal for the record (issue 20): ≥ 2,000 img/s end to end in fp32 on one H100-class GPU, decode
not the bottleneck (the table's "decode only" row is the DataLoader alone).
"""

import argparse
import contextlib
import io
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from . import harness

HEADING = "## GPU extraction (issue 20)"
PRECISIONS = ("fp32", "tf32", "bf16x3", "bf16")
BATCH_SIZES = (50, 200, 500)


def _sync(dev):
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed(fn, dev, repeats=2):
    """(best wall seconds over `repeats` runs after one warm-up, last result)."""
    out = fn()
    best = float("inf")
    for _ in range(repeats):
        _sync(dev)
        t0 = time.perf_counter()
        out = fn()
        _sync(dev)
        best = min(best, time.perf_counter() - t0)
    return best, out


def decode_only(folder, batch_size, dev):
    """The DataLoader of the extractor alone (decode + resize in workers): its img/s bounds ours."""
    from torch.utils.data import DataLoader

    from gan_eval.features import preprocess
    from gan_eval.features.extract import _collate, _Preprocessed, _worker_init, auto_workers
    from gan_eval.inputs import open_input

    src = open_input(folder)
    workers = auto_workers(len(src), batch_size, dev)
    loader = DataLoader(_Preprocessed(src, preprocess.get("tensorflow"), np.arange(len(src))), batch_size=batch_size,
                        num_workers=workers, collate_fn=_collate, worker_init_fn=_worker_init if workers else None,
                        prefetch_factor=4 if workers else None)

    def run():
        n = 0
        for idx, _, _ in loader:
            n += len(idx)
        return n
    return run


def peers(files, weights_path, dev, batch_size):
    """{name: fn() -> N x 2048 features} for the three peers on `dev`."""
    import torch

    out = {}
    import pytorch_fid.inception as pfi
    from pytorch_fid.fid_score import get_activations

    sd = torch.load(weights_path, weights_only=True)
    saved = pfi.load_state_dict_from_url
    pfi.load_state_dict_from_url = lambda *a, **k: sd  # pytorch-fid would download its file
    try:
        pf_model = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval().to(dev)
    finally:
        pfi.load_state_dict_from_url = saved
    workers = min(len(os.sched_getaffinity(0)), 8)

    def pytorch_fid():
        with contextlib.redirect_stderr(io.StringIO()):
            return get_activations(files, pf_model, batch_size=batch_size, dims=2048, device=dev, num_workers=workers)
    out["pytorch-fid"] = pytorch_fid

    from torch_fidelity.datasets import ImagesPathDataset
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torch_fidelity.utils import get_featuresdict_from_dataset

    tf_model = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(weights_path))
    cuda = dev.type == "cuda"
    if cuda:
        tf_model = tf_model.cuda(dev)

    def torch_fidelity():
        r = get_featuresdict_from_dataset(ImagesPathDataset(files), tf_model, batch_size, cuda=cuda,
                                          save_cpu_ram=False, verbose=False)
        return r["2048"].cpu().numpy()
    out["torch-fidelity"] = torch_fidelity

    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
    except ImportError:
        return out
    from PIL import Image

    tm = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights_path),
                                  antialias=False).to(dev)
    captured = []
    tm.inception.register_forward_hook(lambda m, i, o: captured.append(o.detach().float().cpu()))

    def torchmetrics():
        captured.clear()
        tm.reset()
        for start in range(0, len(files), batch_size):
            batch = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files[start:start + batch_size]])
            tm.update(torch.from_numpy(batch).permute(0, 3, 1, 2).to(dev), real=True)
        return torch.cat(captured).reshape(len(files), -1).numpy()
    out["torchmetrics"] = torchmetrics
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000, help="PNG images in the folder (default 5000)")
    ap.add_argument("--ref-n", type=int, default=200, help="images compared with the CPU float32 path")
    ap.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    ap.add_argument("--precisions", default=",".join(PRECISIONS))
    ap.add_argument("--device", default="cuda", help="cuda (default); cpu runs the same code for its test")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-append", action="store_true", help="print only; do not touch RESULTS.md")
    a = ap.parse_args(argv)

    import torch

    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("benchmarks.gpu: skipped, no CUDA device (RESULTS.md unchanged)")
        return 0
    from gan_eval.features.extract import extract_features, load_network
    from gan_eval.streaming import FID

    from .bench_extract import write_pngs

    warnings.simplefilter("ignore")
    dev = torch.device(a.device)
    machine = harness.machine_line()
    gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    tmp = Path(tempfile.mkdtemp(prefix="bench_gpu_"))
    files = write_pngs(tmp / "images", a.n)
    ref_n = min(a.ref_n, a.n)
    write_pngs(tmp / "ref", ref_n)  # the same seed: the first ref_n images of the folder
    weights_path, weights_desc = harness.pt_inception_weights(tmp)
    loaded = load_network(str(weights_path), quiet=True)
    batch_sizes = [int(b) for b in a.batch_sizes.split(",")]
    precisions = [p for p in a.precisions.split(",") if p]

    cpu_ref = extract_features(tmp / "ref", weights=loaded, device="cpu", precision="fp32", progress=False, quiet=True)
    rows = ["| contender | precision | batch | img/s | rel. diff of features to CPU fp32 |", "|---|---|---:|---:|---:|"]
    best = {}
    for bs in batch_sizes:
        wall, n = timed(decode_only(tmp / "images", bs, dev), dev, repeats=1)
        rows.append(f"| DataLoader alone (decode + tensorflow resize) | | {bs} | {n / wall:.0f} | |")
    for precision in precisions:
        for bs in batch_sizes:
            def run(precision=precision, bs=bs):
                return extract_features(tmp / "images", weights=loaded, device=dev, precision=precision,
                                        batch_size=bs, progress=False, quiet=True)
            try:
                wall, feats = timed(run, dev, repeats=1)
            except Exception as e:  # e.g. out of memory at batch 500: reported, not fatal
                rows.append(f"| gan_eval extract_features | {precision} | {bs} | failed: {type(e).__name__} | |")
                continue
            diff = harness.rel_diff(feats[:ref_n], cpu_ref)
            best[precision] = max(best.get(precision, 0.0), a.n / wall)
            rows.append(f"| gan_eval extract_features | {precision} | {bs} | {a.n / wall:.0f} | {diff:.1e} |")

    # streaming update on uint8 tensors already on the device
    gen = torch.Generator(device=dev).manual_seed(0)
    per_update = min(200, a.n)
    images = torch.randint(0, 256, (per_update, 3, 32, 32), dtype=torch.uint8, device=dev, generator=gen)
    metric = FID(weights=loaded, device=dev, quiet=True)
    steps = max(1, min(10, a.n // per_update))

    def stream():
        metric.reset()
        for _ in range(steps):
            metric.update(images, real=False)
        return metric.counts["fake"]
    wall, count = timed(stream, dev, repeats=1)
    rows.append(f"| gan_eval streaming FID.update (uint8 {tuple(images.shape)} on {dev.type}) | fp32 | {per_update} | "
                f"{count / wall:.0f} | |")

    if not a.no_peers:
        for name, fn in peers(files, weights_path, dev, min(200, a.n)).items():
            try:
                wall, feats = timed(fn, dev, repeats=1)
            except Exception as e:
                rows.append(f"| {name} | fp32 | 200 | failed: {type(e).__name__}: {e} | |")
                continue
            best[name] = a.n / wall
            rows.append(f"| {name} | fp32 (its default) | 200 | {a.n / wall:.0f} | "
                        f"{harness.rel_diff(feats[:ref_n], cpu_ref):.1e} |")

    lines = [f"{machine}; device {gpu}; load average at end {harness.load_line()}.", "",
             f"{a.n} seeded 32x32 PNGs, decode and resize in DataLoader workers (the extractor's default count); "
             f"weights: {weights_desc}. Best of one timed run after a warm-up run. Features compared with the CPU "
             f"float32 path on the first {ref_n} images (tensorflow resize for gan_eval, torch-fidelity and "
             "torchmetrics; pytorch-fid resizes its own way, so its difference includes the resize).", "", *rows, ""]
    if "fp32" in best:
        lines.append(f"- Goal ≥ 2,000 img/s end to end in fp32 (no TF32): **{'met' if best['fp32'] >= 2000 else 'not met'}** "
                     f"({best['fp32']:.0f} img/s).")
        peer_rates = {k: v for k, v in best.items() if k not in PRECISIONS}
        if peer_rates:
            top = max(peer_rates, key=peer_rates.get)
            lines.append(f"- fp32 against the fastest peer ({top}): {best['fp32'] / peer_rates[top]:.1f}x.")
    harness.report(HEADING, lines, append=not a.no_append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
