"""Memory at scale: feature extraction over a 100,000-image memory-mapped array, and k-NN metrics
(precision/recall/density/coverage) at 50,000 x 50,000.

Run: ``python -m benchmarks.bench_memory [--images 4000] [--knn 50000] [--dim 64] [--quick] [--no-append]``.

Extraction: a seeded uint8 array of 100,000 32x32 RGB images is written to a temporary .npy and
opened memory-mapped (``ArraySource``), so the images are never resident as a whole. The first
``--images`` of them stream through ``iter_features`` into float64 ``Statistics`` (what
``gan-eval stats`` and ``fid`` do) while the resident set size of this process is sampled after
every batch. On 2 CPU cores the network runs ~5-15 images/s, so all 100,000 would take hours;
the growth per image measured over the run (see `growth_per_1000`), extrapolated, stands in
for them. What must stay:
the statistics, O(d²) = 2048² float64 = 32 MiB, whatever N.

k-NN: ``gan_eval.metrics.prdc.prdc`` on two seeded float32 feature sets of ``--knn`` rows each;
peak extra resident memory and time. The distances are computed in bounded blocks
(``defaults.KNN_BLOCK_ELEMENTS``); a full 50,000 x 50,000 float32 matrix alone would be 9.3 GiB
(the ``prdc`` package builds three of them).
"""

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from . import harness

HEADING = "## Memory at scale (issue 7)"
N_IMAGES = 100_000


def write_images(path, n, size=32, seed=0, chunk=10_000):
    rng = np.random.default_rng(seed)
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        arr[start:start + rows] = rng.integers(0, 256, (rows, size, size, 3), dtype=np.uint8)
    arr.flush()
    del arr


def children_uss_mib():
    """Memory unique to the DataLoader workers (pages shared with the parent not counted).

    Read from the kernel's one-screen /proc/PID/smaps_rollup: psutil's ``memory_full_info``
    parses the whole smaps file, and doing that after every batch grew this process's own heap by
    about 300 MiB per 1,000 images, which the first versions of this benchmark reported as growth.
    """
    import psutil

    total_kib = 0
    for c in psutil.Process().children(recursive=True):
        try:
            with open(f"/proc/{c.pid}/smaps_rollup") as f:
                total_kib += sum(int(line.split()[1]) for line in f
                                 if line.startswith(("Private_Clean:", "Private_Dirty:")))
        except (psutil.Error, OSError, ValueError, IndexError):
            pass
    return total_kib / 1024


def rss_file_mib():
    """Resident pages of this process backed by files (/proc/self/status RssFile), in MiB.

    Reading the memory-mapped input makes its pages resident here (3 KiB per 32x32 image) when
    the images are decoded in this process (no workers): page cache that the kernel can drop,
    not memory the extractor holds, so growth is measured without it.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssFile:"):
                return int(line.split()[1]) / 1024
    return 0.0


def extraction(path, n_images, weights, batch_size=50):
    """Runs in a fresh process (see `harness.in_child`), so its memory is the extraction's alone."""
    import torch

    from gan_eval.features.extract import auto_workers, iter_features, load_network
    from gan_eval.inputs import open_input
    from gan_eval.stats import Statistics

    r_start = harness.rss_mib()
    loaded = load_network(str(weights), quiet=True)
    warm = np.random.default_rng(1).integers(0, 256, (batch_size, 32, 32, 3), dtype=np.uint8)
    for _ in iter_features(warm, loaded, batch_size=batch_size, progress=False, num_workers=0):
        pass  # builds the fused network and packs its weights
    src = open_input(str(path))
    stats = Statistics(2048)
    baseline, file_baseline = harness.rss_mib(), rss_file_mib()
    samples, peak_children = [], 0.0
    t0 = time.perf_counter()
    for idx, out in iter_features(src, loaded, batch_size=batch_size, progress=False,
                                  indices=np.arange(n_images)):
        stats.update(out["pool3"])
        samples.append((stats.count, harness.rss_mib(), rss_file_mib()))
        peak_children = max(peak_children, children_uss_mib())
    seconds = time.perf_counter() - t0
    counts, rss, file_rss = np.array(samples, dtype=np.float64).T
    return {"start": r_start, "model": baseline - r_start, "baseline": baseline, "peak": rss.max(),
            "after_first": rss[0], "growth_per_1000": growth_per_1000(counts, rss - file_rss),
            "file_growth_per_1000": growth_per_1000(counts, file_rss), "file_peak": file_rss.max() - file_baseline,
            "seconds": seconds, "count": stats.count, "children": peak_children,
            "workers": auto_workers(n_images, batch_size, torch.device("cpu"))}


def growth_per_1000(counts, rss):
    """MiB per 1,000 images: median RSS of the last quarter of batches minus that of the second.

    The resident set rises and falls by a few hundred MiB as prefetched batches in shared memory
    arrive and are freed; a least-squares slope over a short run reads one such swing as growth
    (it once extrapolated to 41 GB). Medians over quarters ignore the swings and still see a leak,
    which lifts every batch after it.
    """
    q = len(counts) // 4
    if q < 2:
        return None  # under 8 batches: no estimate
    second, last = slice(q, 2 * q), slice(len(counts) - q, len(counts))
    span = np.median(counts[last]) - np.median(counts[second])
    return float((np.median(rss[last]) - np.median(rss[second])) / span * 1000)


def knn(n, dim, seed=0):
    import torch

    from gan_eval.metrics.prdc import prdc

    rng = np.random.default_rng(seed)
    w = rng.standard_normal((16, dim), dtype=np.float32) / 4
    real = rng.standard_normal((n, 16), dtype=np.float32) @ w + rng.standard_normal((n, dim), dtype=np.float32) * 0.3
    fake = (rng.standard_normal((n, 16), dtype=np.float32) * 1.1 + 0.1) @ w + \
        rng.standard_normal((n, dim), dtype=np.float32) * 0.3
    with harness.PeakRSS() as mem:
        t0 = time.perf_counter()
        r = prdc(real, fake)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "extra": mem.extra, "result": r, "threads": torch.get_num_threads(),
            "inputs_mib": (real.nbytes + fake.nbytes) / 2**20}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4000, help="images of the 100,000 to push through the network")
    ap.add_argument("--knn", type=int, default=50_000, help="rows of each feature set for PRDC")
    ap.add_argument("--dim", type=int, default=64, help="feature dimension for PRDC")
    ap.add_argument("--quick", action="store_true", help="200 images, 5,000-row PRDC; print only")
    ap.add_argument("--no-append", action="store_true", help="print only; do not touch RESULTS.md")
    a = ap.parse_args(argv)
    if a.quick:
        a.images, a.knn, a.no_append = 200, 5000, True
    warnings.simplefilter("ignore")
    machine = harness.machine_line()
    tmp = Path(tempfile.mkdtemp(prefix="bench_memory_"))
    npy = tmp / "images.npy"
    write_images(npy, N_IMAGES)
    weights, weights_desc = harness.pt_inception_weights(tmp)
    e = harness.in_child(extraction, npy, a.images, weights)
    npy.unlink()
    k = harness.in_child(knn, a.knn, a.dim)
    g = e["growth_per_1000"]
    growth_100k = None if g is None else g * (N_IMAGES - e["count"]) / 1000  # MiB, for the images not run
    fmt = (lambda v, spec: "n/a (under 8 batches)" if v is None else format(v, spec))
    beyond = e["peak"] - e["baseline"]
    workers = {0: "no DataLoader worker", 1: "one DataLoader worker"}.get(e["workers"], f"{e['workers']} DataLoader workers")
    fg = e["file_growth_per_1000"]
    file_100k = 0.0 if fg is None else max(fg, 0) * (N_IMAGES - e["count"]) / 1000
    verdict = ("no verdict: too few images to estimate growth" if growth_100k is None else
               "met" if beyond + e["children"] + max(growth_100k, 0) + file_100k < 2000 else "not met")
    lines = [
        f"{machine}; load average at end {harness.load_line()}. Command: `python -m benchmarks.bench_memory "
        f"--images {a.images} --knn {a.knn} --dim {a.dim}`.", "",
        f"**Extraction.** {N_IMAGES:,} seeded 32x32 RGB images in a memory-mapped uint8 .npy "
        f"({N_IMAGES * 32 * 32 * 3 / 2**20:.0f} MiB on disk); the first {e['count']:,} streamed through "
        f"`iter_features` (batch 50, {workers}, the default on this machine) into float64 `Statistics`, "
        f"{e['count'] / e['seconds']:.1f} "
        f"images/s. Weights: {weights_desc}.", "",
        "| resident memory of the main process | MiB |", "|---|---:|",
        f"| after importing torch and gan_eval | {e['start']:.0f} |",
        f"| network loaded, fused and run once (the baseline) | {e['baseline']:.0f} (+{e['model']:.0f}) |",
        f"| after the first batch of the 100,000 | {e['after_first']:.0f} |",
        f"| peak over {e['count']:,} images | {e['peak']:.0f} |",
        f"| peak above the baseline | **{beyond:.0f}** |",
        f"| growth per 1,000 images, file-backed pages not counted (median of the last quarter of batches minus "
        f"the second) | {fmt(g, '.1f')} |",
        f"| that growth extrapolated over the {N_IMAGES - e['count']:,} images not run | {fmt(growth_100k, '.0f')} |", "",
        f"File-backed resident pages grew by {fmt(e['file_growth_per_1000'], '.1f')} MiB per 1,000 images "
        f"({e['file_peak']:.0f} MiB at the end): the pages of the memory-mapped input read so far, 3 KiB per "
        "image, which the kernel drops under memory pressure; they are in the peak above but not in the growth. "
        f"Over the images not run they would add {file_100k:.0f} MiB, counted in the verdict below.", "",
        (f"The DataLoader workers' own memory (unique set size: copy-on-write pages of the forked processes and up "
         f"to 4 prefetched batches of 50 x 3 x 299 x 299 float32, 51 MiB each) peaked at {e['children']:.0f} MiB. "
         if e["workers"] else "Images were decoded and resized in the main process (no workers). ") +
        f"Beyond the model: {beyond:.0f} + {e['children']:.0f} = {beyond + e['children']:.0f} MiB, plus "
        + ("no estimate of growth." if growth_100k is None else
           f"{max(growth_100k, 0):.0f} MiB of extrapolated growth and {file_100k:.0f} MiB of input pages.") +
        f" Goal: under 2 GB resident beyond the "
        f"model for 100,000 images: **{verdict}** "
        f"— measured on {e['count']:,} of them and extrapolated (the statistics are O(d²) whatever N); the full "
        "100,000 were not run (hours on 2 cores).", "",
        f"**k-NN metrics.** `gan_eval.metrics.prdc.prdc` (precision/recall k = 3, density/coverage k = 5) on "
        f"{a.knn:,} x {a.knn:,} seeded float32 features of **{a.dim} dimensions** (not 2048, to keep the run "
        f"short; memory does not depend on the dimension beyond the inputs' {k['inputs_mib']:.0f} MiB): "
        f"**{k['seconds']:.0f} s**, peak extra resident memory **{k['extra']:.0f} MiB** "
        f"({k['threads']} torch threads). Result: "
        + ", ".join(f"{key} {val:.4f}" for key, val in k["result"].items()) + ".",
    ]
    lines += ["", harness.load_note(machine)]
    harness.report(HEADING, lines, not a.no_append)


if __name__ == "__main__":
    main()
