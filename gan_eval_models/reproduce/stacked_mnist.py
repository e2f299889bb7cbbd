"""Mode collapse on Stacked MNIST (1000 modes): VEEGAN Table 2 / PacGAN Table 2.

DCGAN (the 28-px nets of :mod:`gan_eval_models.models.dcgan`: G 7×7×128 → 14×14×64 → 28×28×3,
D the mirror image; Adam 2e-4, β1 0.5, batch 128, non-saturating loss) is trained three ways:
plain, with minibatch discrimination (Salimans et al. 2016), and packed in pairs (PacDCGAN2,
Lin et al. 2018). 26,000 samples per run (VEEGAN's count) are labelled channel by channel with
the committed MNIST classifier (:mod:`gan_eval_models.classifier`) and scored with
:func:`gan_eval.metrics.modes.stacked_mnist_modes`: modes covered out of 1000 and
KL(generated mode histogram ‖ uniform). A "real data" row scores 26,000 Stacked MNIST images
built from the MNIST test digits, which bounds what the classifier can report.
"""

import time

import numpy as np

from gan_eval.metrics.modes import stacked_mnist_modes
from gan_eval_models.classifier import load_classifier
from gan_eval_models.datasets.stacked_mnist import load_stacked_mnist

from .common import (finish, log, markdown_table, mean_std, pm, prepare_out, pyplot, save_sample_grids,
                     settings_markdown, train_and_sample, train_runs)

NAME = "stacked-mnist"
TITLE = "Mode collapse on Stacked MNIST (VEEGAN Table 2, PacGAN Table 2)"

VARIANTS = [  # (row label, run-folder slug, TrainConfig options)
    ("DCGAN", "dcgan", {"model": "dcgan"}),
    ("DCGAN + minibatch discrimination", "dcgan-mbd", {"model": "dcgan", "minibatch_disc": True}),
    ("PacDCGAN2", "pacdcgan2", {"model": "dcgan", "pack": 2}),
]

FULL = {"steps": 3000, "n_samples": 26_000, "seeds": 1}
QUICK = {"steps": 3, "n_samples": 200, "seeds": 1}

# VEEGAN: Srivastava et al., NeurIPS 2017, Table 2 (26,000 samples, 5 runs). PacGAN: Lin et al.,
# NeurIPS 2018, Table 2 (VEEGAN's setting and DCGAN row; 26,000 samples, mean ± std of 10 runs).
VEEGAN = "VEEGAN (Srivastava et al. 2017), Table 2"
PACGAN = "PacGAN (Lin et al. 2018), Table 2"
PUBLISHED = [
    {"source": VEEGAN, "method": "DCGAN", "modes": "99", "kl": "3.40"},
    {"source": VEEGAN, "method": "ALI", "modes": "16", "kl": "5.40"},
    {"source": VEEGAN, "method": "Unrolled GAN", "modes": "48.7", "kl": "4.32"},
    {"source": VEEGAN, "method": "VEEGAN", "modes": "150", "kl": "2.95"},
    {"source": PACGAN, "method": "PacDCGAN2", "modes": "1000.0 ± 0.0", "kl": "0.06 ± 0.01"},
    {"source": PACGAN, "method": "PacDCGAN3", "modes": "1000.0 ± 0.0", "kl": "0.06 ± 0.01"},
    {"source": PACGAN, "method": "PacDCGAN4", "modes": "1000.0 ± 0.0", "kl": "0.07 ± 0.01"},
]


def run(out, work_dir, quick=False, seeds=None, device=None, data_dir=None, quiet=False, command="", jobs=1):
    plan = dict(QUICK if quick else FULL)
    seed_list = list(range(seeds or plan["seeds"]))
    out = prepare_out(out)
    start, cpu_start = time.time(), time.process_time()
    runs = {f"{slug}-s{seed}": dict(dataset="stacked-mnist", steps=plan["steps"], seed=seed, device=device,
                                    data_dir=data_dir, fid=False, **options)
            for _, slug, options in VARIANTS for seed in seed_list}
    train_runs(work_dir, runs.items(), jobs)
    classifier = load_classifier(device)

    real, _ = load_stacked_mnist(data_dir, "test", n=plan["n_samples"], seed=12_345)
    rows = [_row("Real data (Stacked MNIST from test digits)", [stacked_mnist_modes(real, classifier)], [0.0])]
    panels, histograms = {"Real data": real}, {"Real data": rows[0]["per_seed"][0]["histogram"]}

    for label, slug, _ in VARIANTS:
        results, seconds = [], []
        for seed in seed_list:
            log(f"{NAME}: {label} / seed {seed}", quiet)
            samples, _, secs = train_and_sample(work_dir, f"{slug}-s{seed}", plan["n_samples"], sample_seed=1000 + seed,
                                                quiet=quiet, **runs[f"{slug}-s{seed}"])
            results.append(stacked_mnist_modes(samples, classifier))
            seconds.append(secs)
            if seed == seed_list[0]:
                panels[label] = np.asarray(samples[:64])
                histograms[label] = results[-1]["histogram"]
        rows.append(_row(label, results, seconds))

    panels["Real data"] = real[:64]
    save_sample_grids(panels, out / "samples.png", title="Stacked MNIST samples (first seed)")
    _plot_histograms(histograms, out / "mode_histogram.png")
    plots = ["samples.png", "mode_histogram.png"]

    result = {
        "table": NAME,
        "title": TITLE,
        "quick": quick,
        "command": command,
        "papers": [VEEGAN, PACGAN],
        "seeds": seed_list,
        "settings": {
            "training steps per run": plan["steps"],
            "samples scored per run": plan["n_samples"],
            "image size": "28 x 28 x 3 (three MNIST digits as RGB)",
            "classifier": "gan_eval_models.classifier (committed weights, >= 99% MNIST test accuracy)",
            "KL": "KL(generated mode histogram || uniform over 1000), nats",
            "nets": "DCGAN 28-px (G 7x7x128 -> 14x14x64 -> 28x28x3; D mirror), Adam 2e-4, beta1 0.5, batch 128",
        },
        "ours": rows,
        "published": PUBLISHED,
        "plots": plots,
    }
    return finish(out, result, markdown, start, cpu_start, device)


def _row(label, results, seconds):
    row = {"method": label}
    row["modes_mean"], row["modes_std"] = mean_std([r["modes_covered"] for r in results])
    row["kl_mean"], row["kl_std"] = mean_std([r["kl"] for r in results])
    row["per_seed"] = [{"modes_covered": r["modes_covered"], "kl": r["kl"], "n_samples": r["n_samples"],
                        "histogram": r["histogram"].tolist()} for r in results]
    row["train_seconds"] = [round(s, 1) for s in seconds]
    return row


def markdown(result):
    table = [[f"**ours** {r['method']}", pm(r["modes_mean"], r["modes_std"], 1), pm(r["kl_mean"], r["kl_std"], 2)]
             for r in result["ours"]]
    table += [[f"{p['method']} — {p['source']}", p["modes"], p["kl"]] for p in result["published"]]
    n = len(result["seeds"])
    parts = [
        f"# {result['title']}", "",
        markdown_table(["method", "modes (max 1000)", "KL(gen ‖ uniform)"], table), "",
        f"Ours: mean ± standard deviation over {n} seed(s). Published: as printed in the papers "
        "(VEEGAN: mean of 5 runs; PacGAN: mean ± std of 10 runs). Our nets, step budget and classifier "
        "differ from the papers'; see Settings.", "",
    ]
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
