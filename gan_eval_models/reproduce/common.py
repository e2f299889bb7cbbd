"""What every reproduced table shares: training a run, summary statistics, the writer, plots.

A table module builds a result dict and :func:`finish` (through :func:`write_result`) turns it into
``TABLE.md`` and ``TABLE.json`` in the output folder. Plots use matplotlib's Agg backend.
"""

import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from gan_eval.atomic import write_atomic_text
from gan_eval.errors import GanEvalError


def log(message, quiet=False):
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def ensure_trained(work_dir, name, quiet=False, deadline=None, **config):
    """Train one run in ``work_dir/name``, or reuse it; returns its training summary.

    deadline: a ``time.time()`` value at which training stops with a checkpoint (the summary's
    steps then fall short of ``config["steps"]``, nothing marks the run finished, and the next
    call resumes it).

    `config` holds :class:`gan_eval_models.train.TrainConfig` fields (model, dataset, steps, seed,
    ...). A folder holding a finished run with the same settings is reused as it is; one holding
    a checkpoint of the same configuration is resumed (so an interrupted reproduction, or one
    asked for more steps, continues where it stopped); anything else is started afresh.
    """
    from gan_eval_models.train import TrainConfig, has_checkpoint, run_identity, train

    run_dir = Path(work_dir) / name
    marker = run_dir / "reproduce_done.json"
    cfg = TrainConfig(out=str(run_dir), quiet=True, **config).validate()
    settings = json.loads(json.dumps({k: v for k, v in config.items() if k != "device"}, default=str))
    # what a checkpoint must match (it changes with the code's revisions, e.g. the minibatch layer's)
    settings["run_identity"] = run_identity(cfg, cfg.resolved())["config_sha256"]
    if marker.is_file() and has_checkpoint(run_dir):
        try:
            saved = json.loads(marker.read_text())
            if saved.get("settings") == settings:
                return saved["summary"]
        except (OSError, ValueError, KeyError):
            pass
    summary = None
    if has_checkpoint(run_dir):
        try:
            summary = train(cfg, resume=True, deadline=deadline)
        except GanEvalError:  # a different configuration: start again
            summary = None
    if summary is None:
        summary = train(cfg, overwrite=True, deadline=deadline)
    if summary["steps"] >= cfg.steps:
        write_atomic_text(marker, json.dumps({"settings": settings, "summary": summary}, default=str))
    return summary


def _one_thread():
    import torch

    torch.set_num_threads(1)


def train_runs(work_dir, runs, jobs=1, deadline=None):
    """Train (or reuse) every ``(name, config)`` of `runs`, `jobs` at a time in worker processes.

    With jobs = 1 nothing happens here: :func:`train_and_sample` then trains each run in turn.
    Each worker uses one torch thread, so `jobs` should not exceed the free cores. A run's
    results do not depend on `jobs` (each run is a function of its configuration).
    """
    if jobs <= 1:
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")  # no fork of a process whose torch threads are running
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_one_thread) as pool:
        futures = [pool.submit(ensure_trained, str(work_dir), name, True, deadline, **config) for name, config in runs]
        for f in futures:
            f.result()


def train_and_sample(work_dir, name, n_samples, sample_seed, quiet=False, **config):
    """:func:`ensure_trained`, then draw `n_samples` samples from the run.

    Returns ``(samples, training summary, training seconds of the run over all resumes)``.
    """
    from gan_eval_models.sample import sample

    start = time.time()
    summary = ensure_trained(work_dir, name, quiet, **config)
    samples = sample(str(Path(work_dir) / name), n_samples, seed=sample_seed, device=config.get("device"))
    trained = float(summary.get("train_time_total_s", time.time() - start))
    log(f"  {name}: {summary.get('steps')} steps, trained {trained:.0f} s", quiet)
    return samples, summary, trained


def mean_std(values):
    """(mean, sample standard deviation with ddof=1; 0 for a single value) as floats."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("mean_std of no values")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def mean_se(values):
    """(mean, standard error of the mean, n): s.e. = sample std (ddof = 1) / √n, None for n = 1.

    PacGAN's Tables 1–3 (Lin et al. 2018) report mean ± standard error over 10, 10 and 50 runs;
    our rows are reported the same way so the two can be compared directly.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("mean_se of no values")
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None
    return float(v.mean()), se, int(v.size)


def pm(mean, std, digits=1, scale=1.0):
    """"m ± e" with `digits` decimals after scaling; "m (1 run)" when e is None (no error bar)."""
    if std is None:
        return f"{mean * scale:.{digits}f} (1 run)"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def fraction(done, paper):
    """A row's share of the paper's training length, as text: "2,000 / 400,000 (0.5%)"."""
    return f"{done:,} / {paper:,} ({100 * done / paper:.2g}%)"


def markdown_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def check_finite(obj, path="result"):
    """Raise RuntimeError naming the first NaN or infinite number inside a nested result."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            check_finite(v, f"{path}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            check_finite(v, f"{path}[{i}]")
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f" and not np.all(np.isfinite(obj)):
            raise RuntimeError(f"non-finite number in {path}")
    elif isinstance(obj, (float, np.floating)) and not math.isfinite(float(obj)):
        raise RuntimeError(f"non-finite number in {path}: {obj}")


def _plain(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def environment(device=None):
    import torch

    import gan_eval

    return {
        "gan_eval": gan_eval.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": str(device or ("cuda" if torch.cuda.is_available() else "cpu")),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


def write_result(out_dir, result, markdown):
    """Write ``TABLE.md`` (the given markdown) and ``TABLE.json`` (the result) into `out_dir`.

    `result` must hold only finite numbers (checked); returns the two paths.
    """
    check_finite(result)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md_path, json_path = out / "TABLE.md", out / "TABLE.json"
    write_atomic_text(json_path, json.dumps(result, indent=2, default=_plain, allow_nan=False) + "\n")
    write_atomic_text(md_path, markdown.rstrip() + "\n")
    return md_path, json_path


QUICK_LABEL = "QUICK (pipeline check, not a reproduction)"


def refresh_result(out, stats, default_steps, published, paper_steps, markdown, mbd_layer, old_mbd_note):
    """Rewrite ``TABLE.md``/``TABLE.json`` in `out` from the per-run numbers its TABLE.json holds; no
    training. `stats(row, per_seed)` recomputes a row's mean ± s.e.; `default_steps(result, row)` gives
    the training steps of a row that lacks them; a minibatch-discrimination row trained with another
    layer than `mbd_layer` gets `old_mbd_note`."""
    path = Path(out) / "TABLE.json"
    result = json.loads(path.read_text())
    for row in result["ours"]:
        stats(row, row["per_seed"])
        row.setdefault("steps", default_steps(result, row))
        if "minibatch" in row["method"] and result.get("minibatch_layer") != mbd_layer:
            row["note"] = old_mbd_note
    result["published"], result["paper_steps"] = published, paper_steps
    write_result(out, result, markdown(result))
    return result


def quick_out(table):
    """Where a quick run writes by default: under the cache folder, never over results/TABLE."""
    from gan_eval.cachedir import cache_dir

    return cache_dir() / "quick" / table


def check_overwrite(out_dir, quick):
    """A quick run must not replace a full result: GanEvalError when `out_dir` holds one."""
    path = Path(out_dir) / "TABLE.json"
    if not quick or not path.is_file():
        return
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(previous, dict) and not previous.get("quick", False):
        raise GanEvalError(f"{out_dir} holds a full result (TABLE.json); a --quick run does not overwrite it "
                           "(give another --out)")


def finish(out, result, markdown, start, cpu_start, device=None):
    """Complete a table's `result` and write it: wall and CPU time since `start`/`cpu_start`, the
    environment, then ``TABLE.md`` (``markdown(result)``) and ``TABLE.json``; lists the files
    written (with the plots) under ``result["files"]`` and returns `result`."""
    result.update(wall_time_s=round(time.time() - start, 1), cpu_time_s=round(time.process_time() - cpu_start, 1),
                  environment=environment(device))
    if result.get("quick") and not str(result.get("title", "")).startswith(QUICK_LABEL):
        result["title"] = f"{QUICK_LABEL}: {result['title']}"
    md_path, json_path = write_result(out, result, markdown(result))
    result["files"] = [str(md_path), str(json_path)] + [str(Path(out) / p) for p in result["plots"]]
    return result


def prepare_out(out_dir):
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanEvalError(f"cannot create the output folder {out_dir} ({e})") from None
    return Path(out_dir)


def markdown_tail(result, over):
    """A table's closing lines: its convergence list (means over `over`: "seeds" or "runs"), its
    plots and its Settings section."""
    parts = []
    if result.get("convergence"):
        parts += [f"**Convergence** (mean of the {over}; the curves are in the figure and convergence.json):", ""]
        parts += [f"- {line}" for line in result["convergence"]] + [""]
    parts += [f"![{p}]({p})" for p in result["plots"]] + [""]
    parts.append(settings_markdown(result))
    return parts


def settings_markdown(result):
    """The trailer every TABLE.md ends with: command, settings, seeds, wall time, environment."""
    env = result["environment"]
    lines = [
        "## Settings",
        "",
        f"- command: `{result['command']}`",
        f"- seeds: {', '.join(str(s) for s in result['seeds'])}",
        f"- wall time: {result['wall_time_s'] / 60:.1f} min ({result['wall_time_s']:.0f} s) on "
        f"{env['device']}, {env['cpu_count']} CPU cores, torch {env['torch']} "
        f"({env['torch_threads']} thread{'' if env['torch_threads'] == 1 else 's'})",
        f"- CPU time of the process: {result['cpu_time_s'] / 60:.1f} min (wall time exceeds it when the "
        "machine is shared)",
    ]
    trained = sum(sum(r.get("train_seconds", [])) for r in result["ours"])
    if trained:
        lines.append(f"- training time of the runs: {trained / 60:.1f} min, summed over runs (a run reused from "
                     "--work-dir counts the time it took when trained; with --jobs N, N ran at once)")
    lines += [f"- {k}: {v}" for k, v in result["settings"].items()]
    if result.get("quick"):
        lines += ["", "**Quick mode**: a tiny pipeline check, not a reproduction; the numbers mean nothing."]
    return "\n".join(lines)


# --- long runs: convergence ----------------------------------------------------------------------

TREND_STEPS = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000)


def trend_line(name, pts, series, paper_steps, unit="updates"):
    """One line: a row's curve at round step counts and at its last point, e.g. "GAN: modes 3.0 →
    7.1, at 1,000 / 2,000 updates (0.5% of the paper's training)". `pts`: [{"step": s, key: value}]
    oldest first; `series`: [(label, key, format)] with format a callable value → text."""
    by_step = {p["step"]: p for p in pts}
    steps = [s for s in TREND_STEPS if s in by_step and s < pts[-1]["step"]] + [pts[-1]["step"]]
    parts = [f"{label} " + " → ".join(fmt(by_step[s][key]) for s in steps) for label, key, fmt in series]
    return (f"{name}: {', '.join(parts)}, at {' / '.join(f'{s:,}' for s in steps)} {unit} "
            f"({100 * pts[-1]['step'] / paper_steps:.2g}% of the paper's training)")


def plot_convergence(panels, path, columns=2):
    """One figure of metric-vs-step panels. `panels`: [{"title", "xlabel", "ylabel", "curves":
    {label: ([steps], [values])}, "references": [(label, value)]}] (references: dashed lines)."""
    plt = pyplot()
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 3.2 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        for label, (xs, ys) in panel["curves"].items():
            ax.plot(xs, ys, marker=".", label=label)
        for label, value in panel.get("references", ()):
            ax.axhline(value, ls="--", lw=0.8, color="grey")
            ax.annotate(label, (0.01, value), xycoords=("axes fraction", "data"), fontsize=6, va="bottom")
        ax.set_xlabel(panel["xlabel"], fontsize=8)
        ax.set_ylabel(panel["ylabel"], fontsize=8)
        ax.set_title(panel["title"], fontsize=9)
        if panel["curves"]:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


# --- plots --------------------------------------------------------------------------------------


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def image_grid(images, nrow=8):
    """Tile uint8 images (N, H, W, C) into one (rows·H, nrow·W, C) uint8 array with 1-px gaps."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    ncol = min(nrow, n)
    rows = math.ceil(n / ncol)
    canvas = np.full((rows * (h + 1) + 1, ncol * (w + 1) + 1, c), 255, dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, ncol)
        canvas[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + k * (w + 1): 1 + k * (w + 1) + w] = images[i]
    return canvas


def save_image_grid(images, path, nrow=8):
    from PIL import Image

    grid = image_grid(images, nrow)
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)
    return Path(path)


def save_sample_grids(panels, path, nrow=8, title=None):
    """One figure with a titled image grid per entry of `panels` ({label: uint8 NHWC images})."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), squeeze=False)
    for ax, (label, images) in zip(axes[0], panels.items()):
        grid = image_grid(images[: nrow * nrow], nrow)
        ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=255)
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
