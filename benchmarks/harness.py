"""Shared plumbing of the speed and memory benchmarks: interleaved timing, peak memory, the float32
matmul rate of the machine, the Inception weights for every contender, and RESULTS.md sections.

The machine may be shared, so contenders are timed in interleaved rounds (ours, peer 1, peer 2,
ours, ...) and the median is reported; CPU time of the process (all its threads) is recorded
beside wall time, since it is much less sensitive to other jobs on the machine.
"""

import os
import re
import statistics
import threading
import time
from pathlib import Path

import numpy as np

from .machine import describe_machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SHARED_TORCHSCRIPT = Path(os.environ.get("GAN_EVAL_SHARED", ROOT.parent / "shared")) / "weights" / \
    "inception-2015-12-05-features.torchscript.pt"
GFLOP_PER_IMAGE = 11.4  # Inception-v3 at 299 x 299: ~5.7 G multiply-adds


def mnist_dir():
    """The MNIST folder: ``$GAN_EVAL_DATA``, else ``../shared/data/mnist`` beside the checkout."""
    return Path(os.environ.get("GAN_EVAL_DATA") or ROOT.parent / "shared" / "data" / "mnist")


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRSS:
    """Peak resident set size of this process during a block, in MiB above its start.

    Resets the kernel's high-water mark (/proc/self/clear_refs) and reads VmHWM afterwards;
    where that is not allowed, samples the RSS every 2 ms in a thread.
    """

    def __enter__(self):
        self.start = rss_mib()
        self._stop = None
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.mode = "hwm"
        except OSError:
            self.mode = "sampled"
            self._peak = self.start
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self._peak = max(self._peak, rss_mib())
            time.sleep(0.002)

    def __exit__(self, *exc):
        if self.mode == "hwm":
            with open("/proc/self/status") as f:
                hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
            self.peak = hwm / 1024
        else:
            self._stop.set()
            self._thread.join()
            self.peak = self._peak
        self.extra = max(0.0, self.peak - self.start)
        return False


def cpu_seconds():
    """User + system CPU time of this process and of its finished children (DataLoader workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def interleaved(contenders, rounds=3, warmup=True):
    """Time each of ``{name: fn}`` in `rounds` interleaved rounds.

    `warmup`: True runs each contender once untimed first; a dict ``{name: fn}`` runs those
    (e.g. the same code on a small input) instead; False runs nothing. Returns ``{name: {"wall":
    [...], "cpu": [...], "mib": [...], "value": last result}}``; a contender that raises is
    recorded with ``"error"`` and skipped in later rounds.
    """
    out = {name: {"wall": [], "cpu": [], "mib": [], "values": [], "value": None, "error": None}
           for name in contenders}
    if warmup:
        first = warmup if isinstance(warmup, dict) else contenders
        for name, fn in first.items():
            try:
                fn()
            except Exception as e:  # a peer's failure is reported, not fatal
                out[name]["error"] = f"{type(e).__name__}: {e}"
    for _ in range(rounds):
        for name, fn in contenders.items():
            if out[name]["error"]:
                continue
            try:
                with PeakRSS() as mem:
                    c0, w0 = cpu_seconds(), time.perf_counter()
                    value = fn()
                    wall, cpu = time.perf_counter() - w0, cpu_seconds() - c0
            except Exception as e:
                out[name]["error"] = f"{type(e).__name__}: {e}"
                continue
            out[name]["value"] = value
            out[name]["values"].append(value)
            out[name]["wall"].append(wall)
            out[name]["cpu"].append(cpu)
            out[name]["mib"].append(mem.extra)
    return out


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def matmul_gflops(n=2048, repeats=3):
    """float32 n x n matmul rate of this machine now: (wall GFLOP/s, GFLOP per CPU-second), best of `repeats`."""
    import torch

    a = torch.randn(n, n)
    b = torch.randn(n, n)
    a @ b
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        a @ b
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    flops = 2 * n ** 3 / 1e9
    return flops / best_wall, flops / best_cpu


def pt_inception_weights(directory):
    """A .pth in pytorch-fid's pt_inception layout that every contender can load, and its description.

    From the shared TorchScript file when present (the real FID network; its classifier is absent
    and zero-filled, unused by FID), else seeded random weights (``random_weights``).
    """
    import warnings

    import torch

    path = Path(directory) / "pt_inception_bench.pth"
    if SHARED_TORCHSCRIPT.is_file():
        from gan_eval.features.weights import load

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = load(SHARED_TORCHSCRIPT, quiet=True)
        sd = {k: v.clone() for k, v in loaded.model.state_dict().items()}
        sd.setdefault("fc.weight", torch.zeros(1008, 2048))
        sd.setdefault("fc.bias", torch.zeros(1008))
        torch.save(sd, path)
        return path, f"the shared TorchScript Inception ({SHARED_TORCHSCRIPT.name}) converted to pt_inception layout"
    from gan_eval.features.random_weights import save_random_weights

    save_random_weights(path, seed=0)
    return path, "seeded random weights in pt_inception layout (the real weight file is absent)"


HIGH_LOAD_NOTE = ("**High load:** the load average exceeded the number of cores, so other jobs shared the cores "
                  "during this run; wall times are inflated (CPU seconds much less), and ratios come from "
                  "interleaved rounds.")


def load_note(machine):
    """The high-load note when the 1-minute load average at the start (in `machine`) exceeds the cores.

    Only the start counts: during the run the benchmark's own threads and workers raise the load.
    """
    m = re.search(r"load average at start ([\d.]+)", machine)
    start = float(m.group(1)) if m else os.getloadavg()[0]
    return HIGH_LOAD_NOTE if start > (os.cpu_count() or 1) else ""


def _call_in_child(fn, args, queue):
    queue.put(fn(*args))


def in_child(fn, *args):
    """``fn(*args)`` in a spawned process, so its memory and thread pools are its own; its result."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_call_in_child, args=(fn, args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def report(heading, lines, append):
    """Print a task's section; with `append`, also put it under `heading` in RESULTS.md."""
    text = "\n".join(lines)
    print(text)
    if append:
        write_section(heading, text)


def load_line():
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def write_section(heading, text):
    """Put `text` under `heading` in RESULTS.md, replacing that section from an earlier run only."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    section = f"{heading}\n\n{text.strip()}\n"
    m = re.search(r"^" + re.escape(heading) + r"\s*$", old, flags=re.M)
    if m is None:
        new = old.rstrip("\n") + "\n\n" + section
    else:
        nxt = re.search(r"^## ", old[m.end():], flags=re.M)
        tail = "" if nxt is None else "\n" + old[m.end() + nxt.start():]
        new = old[:m.start()] + section + tail
    RESULTS.write_text(new)


def machine_line():
    """The machine, versions and the load average now: call it when a benchmark starts."""
    return describe_machine()


def fmt_s(x):
    return f"{x:.3g}" if x == x else "–"


def ratio(a, b):
    return b / a if a and b and a == a and b == b else float("nan")


def rel_diff(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))
