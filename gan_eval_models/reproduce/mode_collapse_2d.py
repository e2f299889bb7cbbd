"""Mode collapse on the 2-D ring and grid: PacGAN Table 1 / VEEGAN Table 1.

Five GANs share PacGAN's MLPs (G: 4 × 400 ReLU with batch norm; D: 3 × maxout 200×5; Adam 1e-4,
β1 0.8, batch 100; see :mod:`gan_eval_models.models.gan2014`) and differ only in the objective or
the discriminator's input:

==============================  =========  ================  ======================================
row                             model      loss              discriminator
==============================  =========  ================  ======================================
GAN (minimax)                   gan2014    minimax           plain
GAN (non-saturating)            gan2014    non-saturating    plain
LSGAN                           lsgan      least-squares     plain (raw output)
GAN + minibatch discrimination  gan2014    non-saturating    minibatch features (Salimans 2016)
PacGAN2                         gan2014    non-saturating    packs of 2 samples (Lin et al. 2018)
==============================  =========  ================  ======================================

Each is trained on PacGAN's 2D-ring (8 modes, radius 1, σ 0.01) and 2D-grid (25 modes, spacing
2, σ 0.05) for a fixed number of steps per seed; 2,500 samples are then scored with
:func:`gan_eval.metrics.modes.mode_coverage` (3σ, at least one sample per captured mode, reverse
KL over the high-quality samples), as both papers did. A "real data" row scores 2,500 draws from
the mixture itself: its high-quality fraction should be 1 − e^(−9/2) = 98.9% (the probability
that a 2-D Gaussian lies within 3σ).

``setting="paper"`` (:func:`run_paper`) trains the rows of PacGAN's Table 1 (GAN, PacGAN2–4) in
PacGAN's protocol and length (400,000 simultaneous updates on a fixed 100,000-tuple training set,
G per packing slot, 10 runs) with the seed-batched trainer :mod:`gan_eval_models.seed_batch`,
resumable in chunks; each row reports the step it reached and its convergence curve.

Rows report mean ± standard error over their N runs (PacGAN's statistic) and the fraction of the
paper's 400,000 updates they were trained for.
"""

import json
import time
from pathlib import Path

import numpy as np
import torch

from gan_eval.metrics.modes import mode_coverage
from gan_eval_models.datasets import get_dataset

from .common import (finish, fraction, log, markdown_table, mean_se, plot_convergence, pm, prepare_out, pyplot,
                     refresh_result, markdown_tail, train_and_sample, train_runs, trend_line)

NAME = "mode-collapse-2d"
TITLE = "Mode collapse on 2-D Gaussian mixtures (PacGAN Table 1, VEEGAN Table 1)"

VARIANTS = [  # (row label, run-folder slug, TrainConfig options)
    ("GAN (minimax)", "gan-minimax", {"model": "gan2014", "loss": "minimax"}),
    ("GAN (non-saturating)", "gan-ns", {"model": "gan2014", "loss": "non-saturating"}),
    ("LSGAN", "lsgan", {"model": "lsgan", "loss": "least-squares"}),
    ("GAN + minibatch discrimination", "gan-mbd", {"model": "gan2014", "loss": "non-saturating", "minibatch_disc": True}),
    ("PacGAN2", "pacgan2", {"model": "gan2014", "loss": "non-saturating", "pack": 2}),
]
DATASETS = ("ring", "grid")

FULL = {"steps": 2000, "n_samples": 2500, "seeds": 3}
# setting="paper": PacGAN's protocol and length, the rows of its Table 1, trained seed-batched
PAPER = {"n_samples": 2500, "seeds": 10}
PAPER_VARIANTS = [("GAN", "gan", 1), ("PacGAN2", "pacgan2", 2), ("PacGAN3", "pacgan3", 3), ("PacGAN4", "pacgan4", 4)]
QUICK = {"steps": 20, "n_samples": 200, "seeds": 1}

# PacGAN's 2-D experiments: 400 epochs x 1,000 minibatches of 100 = 400,000 updates per run
# (synthetic_data_experiments/2DRing_GAN&PacGAN/config.py: num_epoch 400, num_sample 100,000).
PAPER_STEPS = 400_000

# Published rows. PacGAN: Lin, Khetan, Fanti & Oh, "PacGAN: The power of two samples in generative
# adversarial networks", NeurIPS 2018, Table 1 (ring radius 1 σ 0.01, grid spacing 2 σ 0.05;
# 2,500 samples; mean ± standard error over 10 runs, as its caption says). VEEGAN: Srivastava,
# Valkov, Russell, Gutmann & Sutton, NeurIPS 2017, Table 1 (2,500 samples, 5 runs, means only;
# its ring has radius 2 σ 0.02, and no KL column).
PACGAN = "PacGAN (Lin et al. 2018), Table 1"
VEEGAN = "VEEGAN (Srivastava et al. 2017), Table 1"
PACGAN_RUNS = "10, ± s.e."
VEEGAN_RUNS = "5, mean only"
PUBLISHED = [
    {"source": PACGAN, "runs": PACGAN_RUNS, "dataset": "ring", "method": "GAN", "modes": "6.3 ± 0.5", "hq": "98.2 ± 0.2", "rkl": "0.45 ± 0.09"},
    {"source": PACGAN, "runs": PACGAN_RUNS, "dataset": "ring", "method": "ALI", "modes": "6.6 ± 0.3", "hq": "97.6 ± 0.4", "rkl": "0.36 ± 0.04"},
    {"source": PACGAN, "runs": PACGAN_RUNS, "dataset": "ring", "method": "PacGAN2", "modes": "7.9 ± 0.1", "hq": "95.6 ± 2.0", "rkl": "0.07 ± 0.03"},
    {"source": PACGAN, "runs": PACGAN_RUNS, "dataset": "ring", "method": "PacGAN3", "modes": "7.8 ± 0.1", "hq": "97.7 ± 0.3", "rkl": "0.10 ± 0.02"},
    {"source": PACGAN, "runs": PACGAN_RUNS, "dataset": "ring", "method": "PacGAN4", "modes": "7.8 ± 0.1", "hq": "95.9 ± 1.4", "rkl": "0.07 ± 0.02"},
    {"source": PACGAN, "runs": PACGAN_RUNS, "dataset": "grid", "method": "GAN", "modes": "17.3 ± 0.8", "hq": "94.8 ± 0.7", "rkl": "0.70 ± 0.07"},
    {"source": PACGAN, "runs": PACGAN_RUNS, "dataset": "grid", "method": "ALI", "modes": "24.1 ± 0.4", "hq": "95.7 ± 0.6", "rkl": "0.14 ± 0.03"},
    {"source": PACGAN, "runs": PACGAN_RUNS, "dataset": "grid", "method": "PacGAN2", "modes": "23.8 ± 0.7", "hq": "91.3 ± 0.8", "rkl": "0.13 ± 0.04"},
    {"source": PACGAN, "runs": PACGAN_RUNS, "dataset": "grid", "method": "PacGAN3", "modes": "24.6 ± 0.4", "hq": "94.2 ± 0.4", "rkl": "0.06 ± 0.02"},
    {"source": PACGAN, "runs": PACGAN_RUNS, "dataset": "grid", "method": "PacGAN4", "modes": "24.8 ± 0.2", "hq": "93.6 ± 0.6", "rkl": "0.04 ± 0.01"},
    {"source": VEEGAN, "runs": VEEGAN_RUNS, "dataset": "ring", "method": "GAN", "modes": "1", "hq": "99.3", "rkl": "—"},
    {"source": VEEGAN, "runs": VEEGAN_RUNS, "dataset": "ring", "method": "ALI", "modes": "2.8", "hq": "0.13", "rkl": "—"},
    {"source": VEEGAN, "runs": VEEGAN_RUNS, "dataset": "ring", "method": "Unrolled GAN", "modes": "7.6", "hq": "35.6", "rkl": "—"},
    {"source": VEEGAN, "runs": VEEGAN_RUNS, "dataset": "ring", "method": "VEEGAN", "modes": "8.0", "hq": "52.9", "rkl": "—"},
    {"source": VEEGAN, "runs": VEEGAN_RUNS, "dataset": "grid", "method": "GAN", "modes": "3.3", "hq": "0.5", "rkl": "—"},
    {"source": VEEGAN, "runs": VEEGAN_RUNS, "dataset": "grid", "method": "ALI", "modes": "15.8", "hq": "1.6", "rkl": "—"},
    {"source": VEEGAN, "runs": VEEGAN_RUNS, "dataset": "grid", "method": "Unrolled GAN", "modes": "23.6", "hq": "16", "rkl": "—"},
    {"source": VEEGAN, "runs": VEEGAN_RUNS, "dataset": "grid", "method": "VEEGAN", "modes": "24.6", "hq": "40", "rkl": "—"},
]
MBD_LAYER = "improved-gan MinibatchLayer port (weight norm, per-kernel bias, data-dependent init)"
OLD_MBD_NOTE = ("trained with the earlier minibatch layer (raw N(0, 0.05) kernels, no bias, no data-dependent "
                "init), which started saturated; not a measurement of Salimans et al.'s layer")


def _runs(plan, seed_list, device, data_dir):
    """{run name: TrainConfig fields} for every dataset, variant and seed."""
    return {
        f"{dataset}-{slug}-s{seed}": dict(dataset=dataset, steps=plan["steps"], seed=seed, device=device,
                                          data_dir=data_dir, eval_samples=plan["n_samples"], **options)
        for dataset in DATASETS for _, slug, options in VARIANTS for seed in seed_list
    }


def run(out, work_dir, quick=False, seeds=None, device=None, data_dir=None, quiet=False, command="", jobs=1,
        setting="default", steps=None, deadline=None, rows=None, datasets=DATASETS):
    if setting == "paper":
        return run_paper(out, work_dir, seeds=seeds, steps=steps, deadline=deadline, quiet=quiet, command=command,
                         rows=rows, datasets=datasets)
    plan = dict(QUICK if quick else FULL)
    if steps is not None:
        plan["steps"] = steps
    n_seeds = seeds or plan["seeds"]
    seed_list = list(range(n_seeds))
    out = prepare_out(out)
    start, cpu_start = time.time(), time.process_time()
    runs = _runs(plan, seed_list, device, data_dir)
    if jobs > 1:
        log(f"{NAME}: training {len(runs)} runs, {jobs} at a time", quiet)
    train_runs(work_dir, runs.items(), jobs)

    rows, first_seed_samples = [], {}
    for dataset in DATASETS:
        mixture = get_dataset(dataset)
        real = mixture.sample(plan["n_samples"], generator=torch.Generator().manual_seed(10_000)).double().numpy()
        r = mode_coverage(real, mixture.centres, mixture.std)
        rows.append(_row(dataset, "Real data (mixture samples)", [r], [0.0], steps=None))
        first_seed_samples[(dataset, "Real data")] = real
        for label, slug, _ in VARIANTS:
            results, seconds = [], []
            for seed in seed_list:
                tag = f"{dataset}-{slug}-s{seed}"
                log(f"{NAME}: {dataset} / {label} / seed {seed}", quiet)
                samples, _, secs = train_and_sample(work_dir, tag, plan["n_samples"], sample_seed=1000 + seed,
                                                    quiet=quiet, **runs[tag])
                results.append(mode_coverage(samples, mixture.centres, mixture.std))
                seconds.append(secs)
                if seed == seed_list[0]:
                    first_seed_samples[(dataset, label)] = np.asarray(samples)
            rows.append(_row(dataset, label, results, seconds, steps=plan["steps"]))

    plots = []
    for dataset in DATASETS:
        path = out / f"{dataset}_samples.png"
        _plot_samples(first_seed_samples, dataset, get_dataset(dataset), path)
        plots.append(path.name)

    result = {
        "table": NAME,
        "title": TITLE,
        "quick": quick,
        "command": command,
        "papers": [PACGAN, VEEGAN],
        "seeds": seed_list,
        "settings": {
            "training steps per run": plan["steps"],
            "samples scored per run": plan["n_samples"],
            "high-quality radius": "3 standard deviations",
            "mode captured": ">= 1 high-quality sample",
            "reverse KL": "KL(histogram of high-quality samples over modes || uniform), nats",
            "ring": "8 modes, radius 1, std 0.01 (PacGAN)",
            "grid": "25 modes, spacing 2, std 0.05 (PacGAN)",
            "nets": "PacGAN MLPs (G 4x400 ReLU + batch norm, D 3x maxout 200x5), Adam 1e-4, beta1 0.8, batch 100",
        },
        "ours": rows,
        "published": PUBLISHED,
        "paper_steps": PAPER_STEPS,
        "minibatch_layer": MBD_LAYER,
        "plots": plots,
    }
    return finish(out, result, markdown, start, cpu_start, device)


def run_paper(out, work_dir, seeds=None, steps=None, deadline=None, quiet=False, command="", rows=None,
              datasets=DATASETS):
    """PacGAN Table 1 in PacGAN's protocol (:mod:`gan_eval_models.seed_batch`, ``protocol="paper"``):
    each row's seeds trained as one batch to `steps` (default 400,000) in ``work_dir/paper-<dataset>-<row>``,
    resumed where an earlier call stopped; training stops at `deadline` (``time.time()`` value) and the
    table reports each row at the step it reached, with its convergence curve (``convergence.png`` and
    ``convergence.json``: per-seed metrics vs step)."""
    from gan_eval_models.seed_batch import read_curve, train_seeds

    steps = steps or PAPER_STEPS
    seed_list = list(range(seeds or PAPER["seeds"]))
    out = prepare_out(out)
    start, cpu_start = time.time(), time.process_time()
    variants = [v for v in PAPER_VARIANTS if rows is None or v[0] in rows]
    result_rows, curves = [], {}
    for dataset in datasets:
        for label, slug, pack in variants:
            group = Path(work_dir) / f"paper-{dataset}-{slug}"
            log(f"{NAME}: paper setting, {dataset} / {label}, seeds {seed_list}", quiet)
            summary = train_seeds(group, seed_list, steps, dataset=dataset, pack=pack, protocol="paper",
                                  eval_every=PAPER_EVAL_EVERY, log_every=PAPER_EVAL_EVERY, checkpoint_every=PAPER_EVAL_EVERY,
                                  resume=True, deadline=deadline)
            curve = read_curve(group)
            scored_at, per_seed = curve[-1]  # the last evaluation (a deadline may stop training between two)
            row = {"dataset": dataset, "method": label, "n_modes": get_dataset(dataset).n_modes,
                   "steps": scored_at, "group": str(group)}
            _stats(row, per_seed)
            row["train_seconds"] = [summary["train_time_total_s"]]  # the whole batch of seeds
            result_rows.append(row)
            curves[f"{dataset}/{label}"] = [
                {"step": st, **{k: mean_se([m[f] for m in ms])[0] for k, f in
                                (("modes", "modes_captured"), ("hq", "high_quality_fraction"), ("rkl", "reverse_kl"))},
                 "per_seed": [{k: m[k] for k in ("modes_captured", "high_quality_fraction", "reverse_kl")} for m in ms]}
                for st, ms in curve]
    (out / "convergence.json").write_text(json.dumps({"paper_steps": PAPER_STEPS, "seeds": seed_list, "curves": curves},
                                                     indent=1) + "\n")
    _plot_convergence(curves, out / "convergence.png", datasets)
    result = {
        "table": NAME, "title": TITLE + ", PacGAN's protocol", "quick": False, "command": command,
        "papers": [PACGAN], "seeds": seed_list, "setting": "paper",
        "settings": {
            "protocol": "PacGAN synthetic_data_experiments: simultaneous D/G updates from one minibatch; a fixed "
                        "training set of 100,000 m-tuples per seed (each packing slot its own points), shuffled per "
                        "epoch of 1,000 batches of 100; G run per packing slot (batch-norm statistics over 100 "
                        "samples); Adam 1e-4, beta1 0.8; non-saturating loss; no dropout",
            "paper's training": f"{PAPER_STEPS:,} updates (400 epochs x 1,000 batches)",
            "training steps asked": steps,
            "samples scored per run": PAPER["n_samples"],
            "sampling": "G in inference mode (population batch-norm statistics), latents of seed s from seed s + 1",
            "high-quality radius": "3 standard deviations",
            "mode captured": ">= 1 high-quality sample",
            "ring": "8 modes, radius 1, std 0.01 (PacGAN)",
            "grid": "25 modes, spacing 2, std 0.05 (PacGAN)",
            "trainer": "gan_eval_models.seed_batch (the seeds of a row trained as one batched model)",
        },
        "ours": result_rows, "published": [p for p in PUBLISHED if p["source"] == PACGAN and p["dataset"] in datasets],
        "paper_steps": PAPER_STEPS, "minibatch_layer": MBD_LAYER, "plots": ["convergence.png"],
        "datasets": list(datasets), "convergence": [_trend(name, pts) for name, pts in curves.items() if pts],
    }
    return finish(out, result, markdown, start, cpu_start, "cpu")


def _trend(name, pts):
    """One line: a row's mean % high quality and modes at round step counts and at its last evaluation."""
    return trend_line(name, pts, [("% high quality", "hq", lambda v: f"{100 * v:.1f}"),
                                  ("modes", "modes", lambda v: f"{v:.1f}")], PAPER_STEPS)


PAPER_EVAL_EVERY = 250


def _plot_convergence(curves, path, datasets):
    panels = []
    for dataset in datasets:
        for key, ylabel, scale in (("modes", "modes captured (mean of seeds)", 1),
                                   ("hq", "% high-quality samples (mean of seeds)", 100)):
            rows = {name.split("/")[1]: pts for name, pts in curves.items() if name.startswith(dataset + "/") and pts}
            panels.append({
                "title": f"2D-{dataset}", "xlabel": "generator updates (PacGAN: 400,000)", "ylabel": ylabel,
                "curves": {label: ([p["step"] for p in pts], [p[key] * scale for p in pts]) for label, pts in rows.items()},
                "references": [(f"{p['method']}, PacGAN at 400k", float(p["modes" if key == "modes" else "hq"].split(" ")[0]))
                               for p in PUBLISHED if p["source"] == PACGAN and p["dataset"] == dataset
                               and p["method"] in {n.split("/")[1] for n in curves}],
            })
    return plot_convergence(panels, path)


def _row(dataset, label, results, seconds, steps):
    row = {"dataset": dataset, "method": label, "n_modes": results[0]["n_modes"], "steps": steps}
    _stats(row, [{"modes_captured": r["modes_captured"], "high_quality_fraction": r["high_quality_fraction"],
                  "reverse_kl": r["reverse_kl"], "histogram": np.asarray(r["histogram"]).tolist()} for r in results])
    row["train_seconds"] = [round(s, 1) for s in seconds]
    return row


def _stats(row, per_seed):
    """Fill a row's mean ± standard error (and n_runs) from its per-run numbers."""
    row["per_seed"] = per_seed
    for key, field in (("modes", "modes_captured"), ("hq", "high_quality_fraction"), ("rkl", "reverse_kl")):
        row[f"{key}_mean"], row[f"{key}_se"], row["n_runs"] = mean_se([r[field] for r in per_seed])
        row.pop(f"{key}_std", None)
    return row


def refresh(out):
    """Rewrite ``TABLE.md``/``TABLE.json`` in `out` from the per-run numbers its TABLE.json holds
    (mean ± s.e., the current published rows, each row's share of the paper's training); no training."""
    def default_steps(result, row):
        return None if row["method"].startswith("Real data") else result["settings"]["training steps per run"]

    return refresh_result(out, _stats, default_steps, PUBLISHED, PAPER_STEPS, markdown, MBD_LAYER, OLD_MBD_NOTE)


def _training_cell(row, paper_steps):
    return "—" if row.get("steps") is None else fraction(row["steps"], paper_steps)


def markdown(result):
    parts = [f"# {result['title']}", ""]
    paper_steps = result.get("paper_steps", PAPER_STEPS)
    notes = []
    for dataset in result.get("datasets", DATASETS):
        ours = [r for r in result["ours"] if r["dataset"] == dataset]
        k = ours[0]["n_modes"]
        table = []
        for r in ours:
            label = f"**ours** {r['method']}"
            if r.get("note"):
                notes.append(r["note"])
                label += f" [{len(set(notes))}]"
            table.append([label, str(r["n_runs"]), _training_cell(r, paper_steps), pm(r["modes_mean"], r["modes_se"]),
                          pm(r["hq_mean"], r["hq_se"], 1, 100), pm(r["rkl_mean"], r["rkl_se"], 2)])
        table += [
            [f"{p['method']} — {p['source']}", p["runs"], f"{paper_steps:,} (100%)" if p["source"] == PACGAN else "—",
             p["modes"], p["hq"], p["rkl"]]
            for p in result["published"] if p["dataset"] == dataset
        ]
        parts += [f"## 2D-{dataset} ({k} modes)", "",
                  markdown_table(["method", "runs", "training updates (of the paper's)", f"modes (max {k})",
                                  "% high quality", "reverse KL"], table), ""]
    parts += ["Ours: mean ± standard error of the mean (sample std / √N) over the N runs in the *runs* column "
              "(one seed each); \"(1 run)\" has no error bar. PacGAN: mean ± standard error over 10 runs, as "
              "printed; VEEGAN: mean of 5 runs, on a ring of radius 2 and σ 0.02, no KL. The *training* column "
              f"gives each row's generator updates against PacGAN's {paper_steps:,}.", ""]
    parts += [f"[{i}] {n}" for i, n in enumerate(dict.fromkeys(notes), 1)] + ([""] if notes else [])
    parts += markdown_tail(result, "seeds")
    return "\n".join(parts)


def _plot_samples(samples, dataset, mixture, path):
    plt = pyplot()
    labels = ["Real data"] + [label for label, _, _ in VARIANTS]
    fig, axes = plt.subplots(1, len(labels), figsize=(2.6 * len(labels), 2.9))
    lim = np.abs(mixture.centres).max() * 1.5
    for ax, label in zip(axes, labels):
        x = samples[(dataset, label)]
        ax.scatter(mixture.centres[:, 0], mixture.centres[:, 1], s=14, c="red", marker="x", linewidths=0.6)
        ax.scatter(x[:, 0], x[:, 1], s=2, c="tab:blue", alpha=0.4, linewidths=0)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=6)
    fig.suptitle(f"2D-{dataset}: samples (blue) and mode centres (red), first seed", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
