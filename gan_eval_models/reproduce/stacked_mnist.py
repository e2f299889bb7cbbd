"""Mode collapse on Stacked MNIST (1000 modes): VEEGAN Table 2, PacGAN Tables 2–3, Unrolled GAN Table 2.

Two settings, each trained three ways (plain; with minibatch discrimination, Salimans et al.
2016; packed in pairs, PacDCGAN2, Lin et al. 2018), all with the non-saturating loss:

* ``dcgan``: the 28-px nets of :mod:`gan_eval_models.models.dcgan` (G 7×7×128 → 14×14×64 →
  28×28×3, D the mirror image; Adam 2e-4, β1 0.5, batch 128), 3,000 steps, set beside VEEGAN's
  and PacGAN's Table 2 rows.
* ``small-d``: the small nets of Metz et al.'s Stacked MNIST experiment with D = ½ G
  (:mod:`gan_eval_models.models.dcgan_small`, width 4; the nets PacGAN's Table 3 packs),
  10,000 steps, set beside Unrolled GAN's Table 2 rows.

26,000 samples per run (VEEGAN's count) are labelled channel by channel with the committed
MNIST classifier (:mod:`gan_eval_models.classifier`) and scored with
:func:`gan_eval.metrics.modes.stacked_mnist_modes`: modes covered out of 1000 and
KL(generated mode histogram ‖ uniform). A "real data" row scores 26,000 Stacked MNIST images
built from the MNIST test digits, which bounds what the classifier can report.

``setting="paper"`` (:func:`run_paper`) trains the same three rows in the protocols of the PacGAN
authors' code (``stacked_MNIST_experiments``), see :data:`PAPER_SETTINGS`:

* ``veegan`` (PacGAN Table 2): the nets :mod:`gan_eval_models.models.dcgan_veegan`, z ~ U(−1, 1)^100,
  a fixed set of 128,000 triples from all 70,000 MNIST digits, batch 64, each iteration 1 D and
  2 G updates, 100,000 iterations; 26,000 samples with batch norm in inference mode.
* ``small-d`` (PacGAN Table 3, Metz et al.'s D = ½ G): dcgan-small width 4, fresh triples per
  batch, the G update on the D update's z, 500,000 iterations; 25,600 samples with batch norm in
  batch mode (batches of 128).

Each run is evaluated every ``eval_every`` iterations during training (the convergence curves);
the table reports each run's last evaluation and the iterations it reached against the paper's.
Runs resume from ``work_dir`` across calls, and a deadline stops training with a checkpoint.
"""

import json
import time
from pathlib import Path

import numpy as np

from gan_eval.metrics.modes import stacked_mnist_modes
from gan_eval_models.classifier import load_classifier
from gan_eval_models.datasets.stacked_mnist import load_stacked_mnist

from .common import (ensure_trained, finish, fraction, log, markdown_table, mean_se, plot_convergence, pm, prepare_out,
                     pyplot, refresh_result, save_sample_grids, markdown_tail, settings_markdown, train_and_sample, train_runs,
                     trend_line, write_result)

NAME = "stacked-mnist"
TITLE = "Mode collapse on Stacked MNIST (VEEGAN Table 2, PacGAN Table 2, Unrolled GAN Table 2)"

TRAINING = (  # (row label, run-folder suffix, TrainConfig options)
    ("DCGAN", "dcgan", {}),
    ("DCGAN + minibatch discrimination", "dcgan-mbd", {"minibatch_disc": True}),
    ("PacDCGAN2", "pacdcgan2", {"pack": 2}),
)
SETTINGS = (  # (key, description, run-folder prefix, model options)
    ("dcgan", "DCGAN nets", "", {"model": "dcgan"}),
    ("small-d", "small nets, D = ½ G", "small-", {"model": "dcgan-small", "width": 4}),
)

FULL = {"steps": {"dcgan": 3000, "small-d": 10_000}, "n_samples": 26_000, "seeds": 1}
QUICK = {"steps": {"dcgan": 3, "small-d": 3}, "n_samples": 200, "seeds": 1}

# The papers' training lengths, in iterations (PacGAN's code, stacked_MNIST_experiments/*/config.py):
# VEEGAN setting 50 epochs x 128,000 samples / batch 64 = 100,000; D = 1/2 G (Metz et al.'s
# setting) 500,000 batches of 128 drawn on the fly.
PAPER_STEPS = {"dcgan": 100_000, "small-d": 500_000}

# VEEGAN: Srivastava et al., NeurIPS 2017, Table 2 (26,000 samples; means). PacGAN: Lin et al.,
# NeurIPS 2018, Table 2 (VEEGAN's setting; mean ± standard error over 10 runs) and Table 3 (Metz et
# al.'s small nets; mean ± standard error over 50 runs). Unrolled GAN: Metz et al., ICLR 2017,
# Table 2 (0 unrolling steps is plain DCGAN), reprinted in PacGAN's Table 3.
VEEGAN = "VEEGAN (Srivastava et al. 2017), Table 2"
PACGAN = "PacGAN (Lin et al. 2018), Table 2"
PACGAN3 = "PacGAN (Lin et al. 2018), Table 3"
UNROLLED = "Unrolled GAN (Metz et al. 2017), Table 2"
RUNS = {VEEGAN: "mean only", PACGAN: "10, ± s.e.", PACGAN3: "50, ± s.e.", UNROLLED: "± as printed"}
PUBLISHED = [
    {"source": VEEGAN, "setting": "dcgan", "method": "DCGAN", "modes": "99.0", "kl": "3.40"},
    {"source": VEEGAN, "setting": "dcgan", "method": "ALI", "modes": "16.0", "kl": "5.40"},
    {"source": VEEGAN, "setting": "dcgan", "method": "Unrolled GAN", "modes": "48.7", "kl": "4.32"},
    {"source": VEEGAN, "setting": "dcgan", "method": "VEEGAN", "modes": "150.0", "kl": "2.95"},
    {"source": PACGAN, "setting": "dcgan", "method": "DCGAN (PacGAN's implementation)", "modes": "78.9 ± 6.46",
     "kl": "4.50 ± 0.127"},
    {"source": PACGAN, "setting": "dcgan", "method": "PacDCGAN2", "modes": "1000.0 ± 0.00", "kl": "0.06 ± 0.003"},
    {"source": PACGAN, "setting": "dcgan", "method": "PacDCGAN3", "modes": "1000.0 ± 0.00", "kl": "0.06 ± 0.003"},
    {"source": PACGAN, "setting": "dcgan", "method": "PacDCGAN4", "modes": "1000.0 ± 0.00", "kl": "0.07 ± 0.005"},
    {"source": PACGAN3, "setting": "small-d", "method": "DCGAN, D = ½ G (PacGAN's implementation)",
     "modes": "487.7 ± 34.59", "kl": "2.24 ± 0.15"},
    {"source": PACGAN3, "setting": "small-d", "method": "PacDCGAN2, D = ½ G", "modes": "840.7 ± 15.92", "kl": "1.00 ± 0.05"},
    {"source": PACGAN3, "setting": "small-d", "method": "PacDCGAN3, D = ½ G", "modes": "866.6 ± 12.10", "kl": "0.90 ± 0.04"},
    {"source": PACGAN3, "setting": "small-d", "method": "PacDCGAN4, D = ½ G", "modes": "820.2 ± 25.50", "kl": "1.15 ± 0.14"},
    {"source": UNROLLED, "setting": "small-d", "method": "DCGAN, D = ½ G (0 unrolling steps)", "modes": "628.0 ± 140.9",
     "kl": "2.58 ± 0.75"},
    {"source": UNROLLED, "setting": "small-d", "method": "Unrolled GAN, D = ½ G (10 steps)", "modes": "817.4 ± 37.91",
     "kl": "1.43 ± 0.12"},
    {"source": UNROLLED, "setting": "small-d", "method": "DCGAN, D = ¼ G (0 unrolling steps)", "modes": "30.6 ± 20.73",
     "kl": "5.99 ± 0.42"},
]
MBD_LAYER = "improved-gan MinibatchLayer port on pooled features (weight norm, per-kernel bias, data-dependent init)"
OLD_MBD_NOTE = ("trained with the earlier minibatch layer (raw N(0, 0.05) kernels on the flattened conv features, "
                "no bias, no data-dependent init; it made the D = ½ G net 69x larger); not a measurement of Salimans "
                "et al.'s layer")


def _runs(plan, seed_list, device, data_dir):
    """{run name: TrainConfig options} and [(setting, row label, plot title, run names)] in table order."""
    runs, rows = {}, []
    for key, text, prefix, model in SETTINGS:
        for label, suffix, options in TRAINING:
            names = []
            for seed in seed_list:
                name = f"{prefix}{suffix}-s{seed}"
                runs[name] = dict(dataset="stacked-mnist", steps=plan["steps"][key], seed=seed,
                                  device=device, data_dir=data_dir, fid=False, **model, **options)
                names.append(name)
            rows.append((key, label, f"{label} ({text})", names))
    return runs, rows


def run(out, work_dir, quick=False, seeds=None, device=None, data_dir=None, quiet=False, command="", jobs=1,
        setting="default", steps=None, deadline=None):
    if setting == "paper":
        return run_paper(out, work_dir, seeds=seeds, steps=steps, deadline=deadline, device=device, data_dir=data_dir,
                         quiet=quiet, command=command, jobs=jobs)
    plan = dict(QUICK if quick else FULL)
    if steps is not None:
        plan["steps"] = {key: steps for key in plan["steps"]}
    seed_list = list(range(seeds or plan["seeds"]))
    out = prepare_out(out)
    start, cpu_start = time.time(), time.process_time()
    runs, table_rows = _runs(plan, seed_list, device, data_dir)
    train_runs(work_dir, runs.items(), jobs)
    classifier = load_classifier(device)

    real, _ = load_stacked_mnist(data_dir, "test", n=plan["n_samples"], seed=12_345)
    rows = [_row("real", "Real data (Stacked MNIST from test digits)", [stacked_mnist_modes(real, classifier)], [0.0],
                 None)]
    panels, histograms = {"Real data": real}, {"Real data": rows[0]["per_seed"][0]["histogram"]}

    for key, label, title, names in table_rows:
        results, seconds = [], []
        for seed, name in zip(seed_list, names):
            log(f"{NAME}: {title} / seed {seed}", quiet)
            samples, _, secs = train_and_sample(work_dir, name, plan["n_samples"], sample_seed=1000 + seed,
                                                quiet=quiet, **runs[name])
            results.append(stacked_mnist_modes(samples, classifier))
            seconds.append(secs)
            if seed == seed_list[0]:
                panels[title] = np.asarray(samples[:64])
                histograms[title] = results[-1]["histogram"]
        rows.append(_row(key, label, results, seconds, plan["steps"][key]))

    panels["Real data"] = real[:64]
    save_sample_grids(panels, out / "samples.png", title="Stacked MNIST samples (first seed)")
    _plot_histograms(histograms, out / "mode_histogram.png")
    plots = ["samples.png", "mode_histogram.png"]

    result = {
        "table": NAME,
        "title": TITLE,
        "quick": quick,
        "command": command,
        "papers": [VEEGAN, PACGAN, UNROLLED],
        "seeds": seed_list,
        "settings": {
            "training steps per run": plan["steps"],
            "samples scored per run": plan["n_samples"],
            "image size": "28 x 28 x 3 (three MNIST digits as RGB)",
            "classifier": "gan_eval_models.classifier (committed weights, >= 99% MNIST test accuracy)",
            "KL": "KL(generated mode histogram || uniform over 1000), nats",
            "nets (dcgan)": "DCGAN 28-px (G 7x7x128 -> 14x14x64 -> 28x28x3; D mirror), Adam 2e-4, beta1 0.5, batch 128",
            "nets (small-d)": "dcgan-small, width 4 (D 4 -> 8 -> 16 channels, D = 1/2 G); G z 256 -> 4x4x64 -> 7x7x32 -> "
                              "14x14x16 -> 28x28x8 -> 28x28x3; Adam beta (0.5, 0.99), G 1e-4, D 2e-4, batch 128",
        },
        "ours": rows,
        "published": PUBLISHED,
        "paper_steps": PAPER_STEPS,
        "minibatch_layer": MBD_LAYER,
        "plots": plots,
    }
    return finish(out, result, markdown, start, cpu_start, device)


# --- setting="paper": the protocols of PacGAN's code ---------------------------------------------

VEEGAN_OPTIONS = {"model": "dcgan-veegan", "g_steps": 2, "reuse_z": True, "g_per_slot": True,
                  "real_batches": "fixed-tuples", "sample_bn": "eval"}
SMALL_D_OPTIONS = {"model": "dcgan-small", "width": 4, "reuse_z": True, "g_per_slot": True, "real_batches": "fresh",
                   "sample_bn": "batch"}
PAPER_SETTINGS = {  # PacGAN's stacked_MNIST_experiments/{VEEGAN_experiment, unrolled_GAN_experiment/D=0.5G}/config.py
    "veegan": {"heading": "VEEGAN's setting, PacGAN's DCGAN (PacGAN Table 2)", "published": "dcgan",
               "options": VEEGAN_OPTIONS, "dataset_params": {"n": 128_000, "digits": "all"},
               "steps": PAPER_STEPS["dcgan"], "n_samples": 26_000, "eval_every": 2_000, "runs": 10},
    "small-d": {"heading": "Metz et al.'s small nets, D = ½ G (PacGAN Table 3)", "published": "small-d",
                "options": SMALL_D_OPTIONS, "dataset_params": {},
                "steps": PAPER_STEPS["small-d"], "n_samples": 25_600, "eval_every": 10_000, "runs": 50},
}
PAPER_PROTOCOL = {
    "veegan": [
        "code: PacGAN stacked_MNIST_experiments/VEEGAN_experiment (DCGAN-tensorflow at 28 px)",
        "nets: dcgan-veegan; G z (100) ~ U(-1, 1) -> linear 2x2x512 -> 5x5 stride-2 transposed convs (TensorFlow SAME) "
        "to 4x4x256, 7x7x128, 14x14x64, 28x28x3, batch norm + ReLU, tanh: 4,514,819 parameters; D 5x5 stride-2 convs "
        "64, 128, 256, 512 (batch norm after all but the first, LeakyReLU 0.2) -> linear: 4,310,401 parameters",
        "training set: per run, 128,000 triples drawn (seeded by the run's seed) from all 70,000 MNIST digits "
        "(train + test), then 128,000 m-tuples of those triples drawn with replacement, served in the same order "
        "every epoch of 2,000 batches; real images scaled to [0, 1] while G ends in tanh, as in that code "
        "(samples read in [0, 1], values below 0 clipped)",
        "updates: batch 64 (m-tuples); each iteration 1 D update then 2 G updates, all three on the same z; "
        "Adam 2e-4, beta (0.5, 0.999) for both nets; non-saturating loss",
        "length: 100,000 iterations (50 epochs x 2,000 batches)",
        "scoring: 26,000 samples, G's batch norm in inference mode (running statistics)",
        "G's running batch-norm statistics move with each of its 3 training-mode passes per iteration (that code "
        "also runs G twice more in training mode to print the losses, so there they move 5 times per iteration, "
        "all on the same z)",
    ],
    "small-d": [
        "code: PacGAN stacked_MNIST_experiments/unrolled_GAN_experiment/D=0.5G (Metz et al.'s nets)",
        "nets: dcgan-small width 4; G z (256) ~ N(0, I) -> linear 4x4x64 -> 3x3 stride-2 transposed convs to 7x7x32, "
        "14x14x16, 28x28x8 (batch norm, ReLU) -> 3x3 conv to 3 -> tanh: 287,875 parameters; D 3x3 stride-2 convs "
        "4, 8, 16 (batch norm, LeakyReLU 0.3) -> linear: 1,889 parameters. Against that code: the same layers, but "
        "PyTorch pads symmetrically where TensorFlow's SAME pads one more at the bottom/right (D's first two convs, "
        "G's last two transposed convs: a one-pixel shift) and batch-norm scales start at N(1, 0.02) rather than 1",
        "training data: every batch draws fresh triples (3 random digits of the 60,000 MNIST training digits per "
        "image; 3m per m-tuple), scaled to [-1, 1]",
        "updates: batch 128 (m-tuples); each iteration 1 D update then 1 G update on the D update's z; "
        "Adam beta (0.5, 0.99), G 1e-4, D 2e-4; non-saturating loss",
        "length: 500,000 iterations",
        "scoring: 25,600 samples, G's batch norm in batch mode (each batch of 128 normalised by its own statistics, "
        "as that code's sampler)",
    ],
}
PAPER_COMMON = [
    "minibatch discrimination: " + MBD_LAYER + "; on D's last feature map's channel means (dcgan-veegan: 512 -> 100 "
                                               "kernels x 5; dcgan-small: 16 -> 8 kernels x 3)",
    "packing (PacDCGAN2): D's first conv takes 2 samples concatenated along the channels (6 channels), as PacGAN's "
    "code; G runs once per packing slot (batch norm over one slot's batch), its outputs concatenated",
    "D's loss is the mean of the real and fake cross-entropies where that code sums them (Adam's steps do not "
    "depend on that factor of 2 beyond its epsilon)",
]


def _paper_runs(keys, seed_list, steps, n_samples, eval_every, device, data_dir):
    """{run name: TrainConfig options} and [(setting key, row label, run names)] in table order."""
    runs, rows = {}, []
    for key in keys:
        p = PAPER_SETTINGS[key]
        every = eval_every or p["eval_every"]
        for label, suffix, options in TRAINING:
            names = []
            for seed in seed_list:
                name = f"paper-{key}-{suffix}-s{seed}"
                params = {**p["dataset_params"], "seed": seed} if p["dataset_params"] else {}
                runs[name] = dict(dataset="stacked-mnist", steps=steps or p["steps"], seed=seed, device=device,
                                  data_dir=data_dir, fid=False, eval_every=every, checkpoint_every=every,
                                  eval_samples=n_samples or p["n_samples"], log_every=min(100, every),
                                  dataset_params=params, **p["options"], **options)
                names.append(name)
            rows.append((key, label, names))
    return runs, rows


def _evaluations(run_dir):
    """[(step, metrics)] of the Stacked MNIST evaluations a run's log.jsonl holds, oldest first."""
    from gan_eval_models.train import read_log

    return [(r["step"], r["metrics"]) for r in read_log(run_dir) if "modes_covered" in r.get("metrics", {})]


def _elapsed(run_dir):
    from gan_eval_models.train import read_log

    return next((r["elapsed_s"] for r in reversed(read_log(run_dir)) if "elapsed_s" in r), 0.0)


def run_paper(out, work_dir, seeds=None, steps=None, deadline=None, device=None, data_dir=None, quiet=False,
              command="", jobs=1, settings=tuple(PAPER_SETTINGS), rows=None, n_samples=None, eval_every=None):
    """The rows DCGAN, DCGAN + minibatch discrimination and PacDCGAN2 in each of PacGAN's Stacked MNIST
    protocols (:data:`PAPER_SETTINGS`), trained to `steps` iterations (default: the paper's) in
    ``work_dir/paper-<setting>-<row>-s<seed>``, each resumed where an earlier call stopped.

    seeds: runs per row (default: the paper's, 10 for ``veegan``, 50 for ``small-d``). deadline: a
    ``time.time()`` value at which training stops (with a checkpoint) and the table is written with
    each run at its last evaluation; runs not started by then are counted as pending. n_samples,
    eval_every: samples per evaluation and iterations between evaluations instead of the
    setting's (a quick check). settings, rows: the setting keys and row labels to include. Writes TABLE.md/TABLE.json, ``convergence.png`` and
    ``convergence.json`` (modes and KL vs iteration, per run) into `out`; returns the result.
    """
    from gan_eval_models.classifier import load_classifier

    out = prepare_out(out)
    start, cpu_start = time.time(), time.process_time()
    seed_lists = {k: list(range(seeds or PAPER_SETTINGS[k]["runs"])) for k in settings}
    runs, table_rows = {}, []
    for key in settings:
        r, key_rows = _paper_runs([key], seed_lists[key], steps, n_samples, eval_every, device, data_dir)
        key_rows = [t for t in key_rows if rows is None or t[1] in rows]
        runs.update({name: r[name] for t in key_rows for name in t[2]})
        table_rows += key_rows
    if jobs > 1:
        train_runs(work_dir, runs.items(), jobs, deadline)
    for key, label, names in table_rows:
        for name in names:
            if deadline is not None and time.time() >= deadline:
                break
            log(f"{NAME}: paper setting, {key} / {label} / {name}", quiet)
            ensure_trained(work_dir, name, quiet, deadline=deadline, **runs[name])

    classifier = load_classifier(device)
    real, _ = load_stacked_mnist(data_dir, "test", n=max(n_samples or 0, 1000) if n_samples else 26_000, seed=12_345)
    real_row = _row("real", "Real data (Stacked MNIST from test digits)", [stacked_mnist_modes(real, classifier)],
                    [0.0], None)
    result_rows, curves = [real_row], {}
    for key, label, names in table_rows:
        evaluated = [(name, _evaluations(Path(work_dir) / name)) for name in names]
        done = [(name, ev) for name, ev in evaluated if ev]
        row = {"setting": key, "method": label, "runs_pending": len(names) - len(done),
               "paper_steps": PAPER_SETTINGS[key]["steps"], "steps_asked": runs[names[0]]["steps"]}
        if done:
            per_seed = [{"run": name, "step": ev[-1][0], **{k: ev[-1][1][k] for k in ("modes_covered", "kl", "n_samples")}}
                        for name, ev in done]
            _stats(row, per_seed)
            row["steps"] = min(p["step"] for p in per_seed)
            row["steps_max"] = max(p["step"] for p in per_seed)
            row["train_seconds"] = [round(_elapsed(Path(work_dir) / name), 1) for name, _ in done]
            common = sorted(set.intersection(*[{st for st, _ in ev} for _, ev in done]))
            at = [{st: m for st, m in ev} for _, ev in done]
            curves[f"{key}/{label}"] = [
                {"step": st, "modes": mean_se([a[st]["modes_covered"] for a in at])[0],
                 "kl": mean_se([a[st]["kl"] for a in at])[0],
                 "per_seed": [{"modes_covered": a[st]["modes_covered"], "kl": a[st]["kl"]} for a in at]}
                for st in common]
        else:
            row.update(n_runs=0, steps=0, steps_max=0, per_seed=[])
        result_rows.append(row)

    (out / "convergence.json").write_text(json.dumps(
        {"paper_steps": {k: PAPER_SETTINGS[k]["steps"] for k in settings}, "seeds": seed_lists, "curves": curves},
        indent=1) + "\n")
    _plot_paper_convergence(curves, out / "convergence.png", settings)
    settings_text = {"runs": ", ".join(f"{k}: {len(v)} per row (PacGAN: {PAPER_SETTINGS[k]['runs']})"
                                       for k, v in seed_lists.items())}
    for key in settings:
        p = PAPER_SETTINGS[key]
        settings_text[f"{key} protocol"] = "; ".join(PAPER_PROTOCOL[key])
        settings_text[f"{key} iterations asked"] = f"{steps or p['steps']:,} (paper: {p['steps']:,})"
        settings_text[f"{key} evaluations"] = (f"every {eval_every or p['eval_every']:,} iterations, "
                                               f"{n_samples or p['n_samples']:,} samples, latents from seed s + 1 "
                                               "(the same at every evaluation)")
    settings_text.update({f"note {i}": t for i, t in enumerate(PAPER_COMMON, 1)})
    settings_text.update({
        "classifier": "gan_eval_models.classifier (committed weights, >= 99% MNIST test accuracy)",
        "KL": "KL(generated mode histogram || uniform over 1000), nats",
        "image size": "28 x 28 x 3 (three MNIST digits as RGB)",
    })
    result = {
        "table": NAME, "title": TITLE + ", PacGAN's protocols", "quick": False, "command": command,
        "papers": [PACGAN, PACGAN3], "seeds": sorted({s for v in seed_lists.values() for s in v}), "setting": "paper",
        "paper_settings": list(settings), "settings": settings_text, "ours": result_rows,
        "published": [p for p in PUBLISHED if p["setting"] in {PAPER_SETTINGS[k]["published"] for k in settings}],
        "paper_steps": {k: PAPER_SETTINGS[k]["steps"] for k in settings}, "minibatch_layer": MBD_LAYER,
        "plots": ["convergence.png"],
        "convergence": [trend_line(name, pts, [("modes", "modes", lambda v: f"{v:.1f}"),
                                               ("KL", "kl", lambda v: f"{v:.2f}")],
                                   PAPER_SETTINGS[name.split("/")[0]]["steps"], "iterations")
                        for name, pts in curves.items() if pts],
    }
    return finish(out, result, markdown_paper, start, cpu_start, device)


def _training_cell(row):
    """"2,000 / 100,000 (2%)" (the runs' smallest count), the spread when runs differ, and pending runs."""
    text = fraction(row["steps"], row["paper_steps"])
    if row.get("steps_max", row["steps"]) != row["steps"]:
        text += f", runs at {row['steps']:,}–{row['steps_max']:,}"
    if row.get("runs_pending"):
        text += f"; {row['runs_pending']} run{'s' if row['runs_pending'] > 1 else ''} not evaluated yet"
    return text


COLUMNS = ["method", "runs", "training iterations (of the paper's)", "modes (max 1000)", "KL(gen ‖ uniform)"]


def _published_cells(result, setting, paper_steps):
    """The published rows of one setting as table cells; PacGAN's own rows ran the full `paper_steps`."""
    return [[f"{q['method']} — {q['source']}", RUNS[q["source"]],
             f"{paper_steps:,} (100%)" if q["source"] in (PACGAN, PACGAN3) else "—", q["modes"], q["kl"]]
            for q in result["published"] if q["setting"] == setting]


def markdown_paper(result):
    parts = [f"# {result['title']}", ""]
    real = [r for r in result["ours"] if r["setting"] == "real"]
    for key in result["paper_settings"]:
        p = PAPER_SETTINGS[key]
        table = [[f"**ours** {r['method']}", "1", "—", pm(r["modes_mean"], r["modes_se"], 1),
                  pm(r["kl_mean"], r["kl_se"], 2)] for r in real]
        for r in result["ours"]:
            if r["setting"] != key:
                continue
            scored = r["n_runs"] > 0
            table.append([f"**ours** {r['method']}", str(r["n_runs"]), _training_cell(r),
                          pm(r["modes_mean"], r["modes_se"], 1) if scored else "—",
                          pm(r["kl_mean"], r["kl_se"], 2) if scored else "—"])
        table += _published_cells(result, p["published"], p["steps"])
        parts += [f"## {p['heading']}", "", markdown_table(COLUMNS, table), ""]
    parts += [
        "Ours: mean ± standard error of the mean (sample std / √N) over the N runs in the *runs* column, each "
        "scored at its last evaluation; \"(1 run)\" has no error bar. PacGAN: mean ± standard error over 10 "
        "(Table 2) or 50 (Table 3) runs, as printed; VEEGAN: means; Unrolled GAN: ± as printed. The *training* "
        "column gives the iterations each row reached against the paper's (PacGAN's code). Our classifier differs "
        "from the papers'; see Settings.", ""]
    parts += markdown_tail(result, "runs")
    return "\n".join(parts)


def _plot_paper_convergence(curves, path, settings):
    panels = []
    for key in settings:
        p = PAPER_SETTINGS[key]
        rows = {name.split("/")[1]: pts for name, pts in curves.items() if name.startswith(key + "/") and pts}
        refs = [(f"{q['method']}, {q['source'].split(',')[0]}", float(q["modes"].split(" ")[0]))
                for q in PUBLISHED if q["setting"] == p["published"] and q["source"] in (PACGAN, PACGAN3)
                and q["method"].split(" (")[0].split(",")[0] in {"DCGAN", "PacDCGAN2"}]
        for metric, ylabel in (("modes", "modes covered of 1000 (mean of runs)"), ("kl", "KL(gen ‖ uniform), nats")):
            panels.append({"title": p["heading"], "xlabel": f"iterations (paper: {p['steps']:,})", "ylabel": ylabel,
                           "curves": {label: ([q["step"] for q in pts], [q[metric] for q in pts])
                                      for label, pts in rows.items()},
                           "references": refs if metric == "modes" else []})
    return plot_convergence(panels, path)


def _row(setting, label, results, seconds, steps):
    row = {"setting": setting, "method": label, "steps": steps}
    _stats(row, [{"modes_covered": r["modes_covered"], "kl": r["kl"], "n_samples": r["n_samples"],
                  "histogram": np.asarray(r["histogram"]).tolist()} for r in results])
    row["train_seconds"] = [round(s, 1) for s in seconds]
    return row


def _stats(row, per_seed):
    """Fill a row's mean ± standard error (and n_runs) from its per-run numbers."""
    row["per_seed"] = per_seed
    row["modes_mean"], row["modes_se"], row["n_runs"] = mean_se([r["modes_covered"] for r in per_seed])
    row["kl_mean"], row["kl_se"], _ = mean_se([r["kl"] for r in per_seed])
    row.pop("modes_std", None)
    row.pop("kl_std", None)
    return row


def refresh(out):
    """Rewrite ``TABLE.md``/``TABLE.json`` in `out` from the per-run numbers its TABLE.json holds
    (mean ± s.e., the current published rows, each row's share of the paper's training); no training."""
    result = json.loads((Path(out) / "TABLE.json").read_text())
    if result.get("setting") == "paper":
        for row in result["ours"]:
            if row.get("per_seed"):
                _stats(row, row["per_seed"])
        keys = {PAPER_SETTINGS[k]["published"] for k in result["paper_settings"]}
        result["published"] = [p for p in PUBLISHED if p["setting"] in keys]
        write_result(out, result, markdown_paper(result))
        return result

    def default_steps(result, row):
        return result["settings"]["training steps per run"].get(row["setting"])

    return refresh_result(out, _stats, default_steps, PUBLISHED, PAPER_STEPS, markdown, MBD_LAYER, OLD_MBD_NOTE)


def markdown(result):
    steps = result["settings"]["training steps per run"]
    paper = result.get("paper_steps", PAPER_STEPS)
    parts = [f"# {result['title']}", ""]
    real = [r for r in result["ours"] if r["setting"] == "real"]
    notes = []
    for key, text, *_ in SETTINGS:
        table = []
        for r in real + [r for r in result["ours"] if r["setting"] == key]:
            label = f"**ours** {r['method']}"
            if r.get("note"):
                notes.append(r["note"])
                label += f" [{len(dict.fromkeys(notes))}]"
            training = "—" if r.get("steps") is None else fraction(r["steps"], paper[key])
            table.append([label, str(r["n_runs"]), training, pm(r["modes_mean"], r["modes_se"], 1),
                          pm(r["kl_mean"], r["kl_se"], 2)])
        table += _published_cells(result, key, paper[key])
        parts += [f"## {text[0].upper() + text[1:]} ({steps[key]:,} steps)", "", markdown_table(COLUMNS, table), ""]
    parts += [
        "Ours: mean ± standard error of the mean (sample std / √N) over the N runs in the *runs* column; "
        "\"(1 run)\" has no error bar. PacGAN: mean ± standard error over 10 (Table 2) or 50 (Table 3) runs, as "
        "printed; VEEGAN: means; Unrolled GAN: ± as printed. The *training* column gives each row's iterations "
        "against the paper's (PacGAN's code). Our classifier differs from the papers'; see Settings.", "",
    ]
    parts += [f"[{i}] {n}" for i, n in enumerate(dict.fromkeys(notes), 1)] + ([""] if notes else [])
    parts += [f"![{p}]({p})" for p in result["plots"]] + [""]
    parts.append(settings_markdown(result))
    return "\n".join(parts)


def _plot_histograms(histograms, path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for label, h in histograms.items():
        counts = np.sort(np.asarray(h))[::-1]
        ax.plot(np.arange(1, 1001), np.maximum(counts, 0.5), label=label, lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("mode rank (1000 modes, sorted by count)")
    ax.set_ylabel("samples in mode (0 drawn at 0.5)")
    ax.set_title("Stacked MNIST: samples per mode, first seed", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
