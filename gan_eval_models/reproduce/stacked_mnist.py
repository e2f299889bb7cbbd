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
"""

import time

import numpy as np

from gan_eval.metrics.modes import stacked_mnist_modes
from gan_eval_models.classifier import load_classifier
from gan_eval_models.datasets.stacked_mnist import load_stacked_mnist

from .common import (finish, fraction, log, markdown_table, mean_se, pm, prepare_out, pyplot, refresh_result,
                     save_sample_grids, settings_markdown, train_and_sample, train_runs)

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


def run(out, work_dir, quick=False, seeds=None, device=None, data_dir=None, quiet=False, command="", jobs=1):
    plan = dict(QUICK if quick else FULL)
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
        table += [[f"{p['method']} — {p['source']}", RUNS[p["source"]],
                   f"{paper[key]:,} (100%)" if p["source"] in (PACGAN, PACGAN3) else "—", p["modes"], p["kl"]]
                  for p in result["published"] if p["setting"] == key]
        parts += [f"## {text[0].upper() + text[1:]} ({steps[key]:,} steps)", "",
                  markdown_table(["method", "runs", "training iterations (of the paper's)", "modes (max 1000)",
                                  "KL(gen ‖ uniform)"], table), ""]
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
