"""The MNIST column of Table 1 of Goodfellow et al. 2014, "Generative Adversarial Nets".

Train ``gan2014`` (the paper's MNIST nets with our default Adam recipe, on ``train[0:50000]``; see
:mod:`gan_eval_models.models.gan2014`), draw 10,000 samples (pixels in [0, 1]) and fit a Gaussian
Parzen window on them; σ is chosen from ``logspace(-1, 0, 10)`` on the first 1,000 images of the
validation split ``train[50000:60000]`` and the score is the mean log-likelihood of the 10,000
test images ± its standard error (:func:`gan_eval.metrics.parzen.parzen_protocol`, the paper's
code). A sanity row scores 10,000 real training images as the "samples" under the same protocol.
"""

import time
from pathlib import Path

import numpy as np

from gan_eval.metrics.parzen import parzen_protocol
from gan_eval_models.datasets.mnist import load_mnist
from gan_eval_models.train import read_log

from .common import (finish, log, markdown_table, mean_std, prepare_out, pyplot, save_sample_grids,
                     settings_markdown, train_and_sample, train_runs)

NAME = "goodfellow2014"
TITLE = "Parzen window log-likelihood on MNIST (Goodfellow et al. 2014, Table 1)"
PAPER = "Goodfellow et al. 2014, Generative Adversarial Nets (NeurIPS), Table 1"

# eval_every/eval_samples: the trainer logs a validation Parzen curve with as many centres as the protocol
# uses (with fewer, the chosen σ is larger and the curve rewards blur, not the protocol's score)
FULL = {"steps": 45_000, "n_samples": 10_000, "n_validation": 1_000, "n_test": None, "seeds": 1, "eval_every": 5_000,
        "eval_samples": 10_000}
QUICK = {"steps": 20, "n_samples": 300, "n_validation": 100, "n_test": 300, "seeds": 1, "eval_every": 10,
         "eval_samples": 300}

SOURCE = "Goodfellow et al. 2014, Table 1"
PUBLISHED = [  # MNIST column: mean log-likelihood ± standard error over the test set
    {"source": SOURCE, "method": "DBN", "ll": "138 ± 2"},
    {"source": SOURCE, "method": "Stacked CAE", "ll": "121 ± 1.6"},
    {"source": SOURCE, "method": "Deep GSN", "ll": "214 ± 1.1"},
    {"source": SOURCE, "method": "Adversarial nets", "ll": "225 ± 2"},
]


def _unit(images):
    """uint8 images (N, 28, 28[, 1]) → float64 rows (N, 784) in [0, 1]."""
    a = np.asarray(images)
    return a.reshape(a.shape[0], -1).astype(np.float64) / 255.0


def run(out, work_dir, quick=False, seeds=None, device=None, data_dir=None, quiet=False, command="", jobs=1):
    plan = dict(QUICK if quick else FULL)
    seed_list = list(range(seeds or plan["seeds"]))
    out = prepare_out(out)
    start, cpu_start = time.time(), time.process_time()
    runs = {f"gan2014-mnist-s{seed}": dict(model="gan2014", dataset="mnist", steps=plan["steps"], seed=seed, device=device,
                                           data_dir=data_dir, fid=False, eval_every=plan["eval_every"],
                                           eval_samples=plan["eval_samples"])
            for seed in seed_list}
    train_runs(work_dir, runs.items(), jobs)

    train_images, _ = load_mnist(data_dir, "train")
    test_images, _ = load_mnist(data_dir, "test")
    validation = _unit(train_images[50_000:50_000 + plan["n_validation"]])
    test = _unit(test_images[: plan["n_test"]])
    protocol = {"n_centres": plan["n_samples"], "n_validation": plan["n_validation"], "device": device}

    rows, first_samples, curves = [], None, {}
    results, seconds = [], []
    for seed in seed_list:
        log(f"{NAME}: gan2014 / seed {seed}", quiet)
        samples, summary, secs = train_and_sample(work_dir, f"gan2014-mnist-s{seed}", plan["n_samples"],
                                            sample_seed=1000 + seed, quiet=quiet, **runs[f"gan2014-mnist-s{seed}"])
        r = parzen_protocol(_unit(samples), validation, test, **protocol)
        log(f"  Parzen LL {r['mean']:.1f} ± {r['sem']:.1f} (sigma {r['sigma']:.3f})", quiet)
        r["curve"] = _validation_curve(Path(work_dir) / f"gan2014-mnist-s{seed}")
        results.append(r)
        seconds.append(secs)
        hp = summary.get("hyperparameters", {})
        if first_samples is None:
            first_samples = np.asarray(samples)
            curves["Adversarial nets (ours)"] = r
    rows.append(_row("Adversarial nets (gan2014)", results, seconds))

    log(f"{NAME}: real-data sanity row", quiet)
    real = parzen_protocol(_unit(train_images[: plan["n_samples"]]), validation, test, **protocol)
    rows.append(_row(f"Real MNIST training images ({plan['n_samples']:,} as centres)", [real], [0.0]))
    curves["Real training images"] = real

    real_grid = train_images[:64, :, :, None]
    save_sample_grids({"gan2014 samples": first_samples[:64], "MNIST training images": real_grid},
                      out / "samples.png", title="gan2014 on MNIST (first seed)")
    _plot_sigma(curves, out / "sigma_selection.png")
    plots = ["samples.png", "sigma_selection.png"]

    result = {
        "table": NAME,
        "title": TITLE,
        "quick": quick,
        "command": command,
        "papers": [PAPER],
        "seeds": seed_list,
        "settings": {
            "training steps per run": plan["steps"],
            "model": "gan2014 (G 100-1200-1200-784 ReLU/sigmoid, D maxout 240x5 x2 with dropout)",
            "training": _recipe(hp),
            "training data": "MNIST train[0:50000]",
            "Parzen centres": f"{plan['n_samples']:,} generated samples, pixels in [0, 1]",
            "sigma grid": "logspace(-1, 0, 10), chosen on validation",
            "validation": f"first {plan['n_validation']:,} images of MNIST train[50000:60000]",
            "test": f"{len(test):,} MNIST test images; ± is the standard error over them",
            "validation curve during training": (f"{plan['eval_samples']:,} samples of the averaged G as centres, σ "
                                                 "chosen on train[50000:50200], LL on train[50200:51200]"),
        },
        "ours": rows,
        "published": PUBLISHED,
        "plots": plots,
    }
    return finish(out, result, markdown, start, cpu_start, device)


def _recipe(hp):
    """One line of the resolved training hyperparameters of a run."""
    if not hp:
        return "unknown"
    opt = f"{hp.get('optimizer')} G lr {hp.get('lr')}, D lr {hp.get('d_lr', hp.get('lr'))}"
    if hp.get("betas"):
        opt += f", betas {tuple(hp['betas'])}"
    if hp.get("momentum"):
        opt += f", momentum {hp['momentum']}" + (" with mnist.yaml's schedule" if hp.get("schedule") else "")
    line = f"{opt}; batch {hp.get('batch_size')}; {hp.get('loss')} loss; {hp.get('update')} updates"
    if hp.get("ema"):
        line += f"; samples from the weight average (decay {hp['ema']})"
    return line


def _validation_curve(run_dir):
    """[(step, validation Parzen LL)] that the trainer logged (see ``monitor``), oldest first."""
    return [[r["step"], round(r["metrics"]["parzen_ll_val"], 2)] for r in read_log(run_dir)
            if "parzen_ll_val" in r.get("metrics", {})]


def _row(label, results, seconds):
    row = {"method": label}
    row["ll_mean"], row["ll_seed_std"] = mean_std([r["mean"] for r in results])
    row["ll_sem"] = float(np.mean([r["sem"] for r in results]))
    row["per_seed"] = [{k: r[k] for k in ("mean", "sem", "sigma", "n_centres", "n_validation", "n_test",
                                          "sigmas", "validation_scores")} for r in results]
    for out, r in zip(row["per_seed"], results):
        if r.get("curve"):
            out["validation_curve"] = r["curve"]
    row["train_seconds"] = [round(s, 1) for s in seconds]
    return row


def markdown(result):
    table = []
    for r in result["ours"]:
        sigmas = ", ".join(f"{s['sigma']:.3f}" for s in r["per_seed"])
        cell = f"{r['ll_mean']:.1f} ± {r['ll_sem']:.1f}"
        if len(r["per_seed"]) > 1:
            cell += f" (seed std {r['ll_seed_std']:.1f})"
        table.append([f"**ours** {r['method']}", cell, sigmas])
    table += [[f"{p['method']} — {p['source']}", p["ll"], "—"] for p in result["published"]]
    parts = [
        f"# {result['title']}", "",
        f"Published rows: {PAPER}, MNIST column.", "",
        markdown_table(["model", "MNIST Parzen log-likelihood (nats)", "σ"], table), "",
        "± is the standard error of the mean over the test images (the paper's convention).", "",
    ]
    for r in result["ours"]:
        for i, seed in enumerate(r["per_seed"]):
            if seed.get("validation_curve"):
                points = ", ".join(f"{step:,}: {ll:.1f}" for step, ll in seed["validation_curve"])
                parts += [f"Validation Parzen LL logged during training ({r['method']}, seed {result['seeds'][i]}; "
                          f"see Settings), by step: {points}.", ""]
    parts += [f"![{p}]({p})" for p in result["plots"]] + [""]
    parts.append(settings_markdown(result))
    return "\n".join(parts)


def _plot_sigma(curves, path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for label, r in curves.items():
        ax.plot(r["sigmas"], r["validation_scores"], marker="o", ms=3, label=f"{label} (σ = {r['sigma']:.3f})")
    ax.set_xscale("log")
    ax.set_xlabel("σ")
    ax.set_ylabel("mean validation log-likelihood")
    ax.set_title("Bandwidth selection on train[50000:51000]", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
