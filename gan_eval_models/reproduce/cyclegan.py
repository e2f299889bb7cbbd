"""CycleGAN (Zhu et al. 2017) on MNIST ↔ restyled MNIST, evaluated in the spirit of the paper's
"FCN score" (Table 2): does a translation keep its content, does it look like the target domain?

Domains (:mod:`gan_eval_models.datasets.domains`): A = MNIST, B = MNIST with thickened strokes,
inverted; disjoint parts of MNIST train the two sides. For each direction (A → B, B → A) the
first `n_eval` test images of the source domain are translated and scored against as many real
test images of the target domain:

- content accuracy: the committed MNIST classifier's accuracy on the translations (B images are
  mapped back by x ↦ 255 − x first), against the source digit's label;
- FID, KID, precision, recall (k = 3): gan-eval's metric functions on the 128-d MNIST-classifier
  features (:mod:`gan_eval_models.feature_scores`; *not* Inception features, so not comparable
  with published Inception FIDs) of translations vs real target images;
- cycle reconstruction error: mean |F(G(x)) − x| in [0, 1] pixel units.

Baselines: the identity mapping (the source image offered as the translation) and the real
target set (held-out real images of the target domain in place of translations), which bounds
what the classifier-based scores can reach.
"""

import time

import numpy as np

from gan_eval_models.classifier import load_classifier

from .common import (
    finish,
    log,
    markdown_table,
    mean_std,
    prepare_out,
    pyplot,
    settings_markdown,
)

NAME = "cyclegan"
TITLE = "CycleGAN: MNIST ↔ restyled MNIST (thick, inverted), content preservation and realism"

FULL = {"steps": 1000, "batch_size": 8, "width": 8, "params": {"n_res": 2}, "n_eval": 2000, "seeds": 1}
QUICK = {"steps": 30, "batch_size": 8, "width": 4, "params": {"n_res": 1}, "n_eval": 200, "seeds": 1}


def run(out, work, quick=False, seeds=None, device=None, data_dir=None, quiet=False, command="", jobs=1):
    from gan_eval_models.datasets.domains import load_domains
    from gan_eval_models.datasets.mnist import load_mnist
    from gan_eval_models.multinet import ensure_trained, load_trained

    start, cpu_start = time.time(), time.process_time()
    out = prepare_out(out)
    s = QUICK if quick else FULL
    seeds = list(range(seeds or s["seeds"]))
    n = s["n_eval"]
    test = load_domains("restyled-mnist", data_dir, "test")
    train_images, train_labels = load_mnist(data_dir, "train")
    from gan_eval_models.datasets.domains import restyle

    heldout = {"a": (np.array(train_images[50_000:50_000 + n]), np.array(train_labels[50_000:50_000 + n])),
               "b": (restyle(train_images[55_000:55_000 + n]), np.array(train_labels[55_000:55_000 + n]))}
    classifier = load_classifier(device)
    per_seed, seconds, pictures = [], [], {}
    for seed in seeds:
        name = f"cyclegan-s{seed}"
        log(f"training {name} ({s['steps']} steps)", quiet)
        summary = ensure_trained(work, name, model="cyclegan", dataset="restyled-mnist", steps=s["steps"], seed=seed,
                                 device=device, batch_size=s["batch_size"], width=s["width"], params=s["params"],
                                 data_dir=data_dir, quiet=True, log_every=50, checkpoint_every=100)
        seconds.append(summary["train_time_total_s"])
        trainer, _ = load_trained(f"{work}/{name}", device)
        per_seed.append(_evaluate(trainer, test, heldout, n, classifier))
        if seed == seeds[0]:
            pictures = {d: _rows(trainer, test[src][0][:8], d) for d, src in (("a2b", "a"), ("b2a", "b"))}
    ours = []
    for direction in ("a2b", "b2a"):
        for method in ("identity mapping", "CycleGAN", "real target (held-out)"):
            rows = [r[direction][method] for r in per_seed]
            row = {"direction": direction, "method": method}
            for key in rows[0]:
                row[key + "_mean"], row[key + "_std"] = mean_std([r[key] for r in rows])
            # the runs' training time, once (both directions come from the same runs)
            row["train_seconds"] = [round(x, 1) for x in seconds] if (method, direction) == ("CycleGAN", "a2b") else []
            ours.append(row)
    plots = ["translations.png"]
    _plot(pictures, out / plots[0])
    result = {
        "table": NAME, "title": TITLE, "quick": quick, "seeds": seeds, "command": command, "ours": ours,
        "published": [], "plots": plots,
        "settings": {
            "training steps": s["steps"], "batch size": s["batch_size"], "width w": s["width"],
            "residual blocks": s["params"]["n_res"], "λ cycle / identity weight": "10 / 0.5 λ",
            "history buffer": 50, "optimiser": "Adam 2e-4, β (0.5, 0.999), linear decay over the second half",
            "evaluation images per direction": n,
            "features for FID/KID/P/R": "MNIST classifier, 128-d penultimate layer (not Inception)",
            "domains": "A = MNIST train[0:25000], B = restyled train[25000:50000]; test A = test[0:5000], "
                       "B = restyled test[5000:10000]; held-out real: train[50000:] (A), train[55000:] (B)",
        },
    }
    return finish(out, result, markdown, start, cpu_start, device)


def _evaluate(trainer, test, heldout, n, classifier):
    from gan_eval_models.datasets.domains import to_mnist_style
    from gan_eval_models.feature_scores import classifier_outputs, scores

    out = {}
    for direction, src, dst in (("a2b", "a", "b"), ("b2a", "b", "a")):
        x, y = test[src][0][:n], test[src][1][:n]
        target = to_mnist_style(test[dst][0][:n], "restyled-mnist", dst)[..., None]
        real_feats = classifier_outputs(target, classifier)[0]
        translated = trainer.translate(x, direction)
        candidates = {"identity mapping": x, "CycleGAN": translated, "real target (held-out)": heldout[dst][0]}
        labels = {"identity mapping": y, "CycleGAN": y, "real target (held-out)": heldout[dst][1]}
        out[direction] = {}
        for method, images in candidates.items():
            feats, logits = classifier_outputs(to_mnist_style(images, "restyled-mnist", dst)[..., None], classifier)
            row = {"content_accuracy": float((logits.argmax(1) == labels[method]).mean())}
            sc = scores(real_feats, feats)
            row.update(fid=sc["fid"], kid=sc["kid"]["mean"], precision=sc["precision"], recall=sc["recall"])
            if method == "CycleGAN":
                rec = trainer.reconstruct(x, direction)
                row["cycle_l1"] = float(np.abs(rec.astype(np.float64) - x.astype(np.float64)).mean() / 255.0)
            out[direction][method] = row
    return out


def _rows(trainer, x, direction):
    return np.concatenate([x, trainer.translate(x, direction), trainer.reconstruct(x, direction)])[..., None]


def _plot(pictures, path):
    from .common import image_grid

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    for ax, (d, images) in zip(axes, pictures.items()):
        grid = image_grid(images, 8)
        ax.imshow(grid[..., 0], cmap="gray", vmin=0, vmax=255)
        ax.set_title(("A → B" if d == "a2b" else "B → A") + ": input / translation / reconstruction", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(result):
    parts = [f"# {result['title']}", ""]
    for direction, text in (("a2b", "A (MNIST) → B (restyled)"), ("b2a", "B (restyled) → A (MNIST)")):
        rows = []
        for r in [r for r in result["ours"] if r["direction"] == direction]:
            cyc = f"{r['cycle_l1_mean']:.4f}" if "cycle_l1_mean" in r else "—"
            rows.append([r["method"], f"{100 * r['content_accuracy_mean']:.1f}", f"{r['fid_mean']:.2f}",
                         f"{r['kid_mean']:.3f}", f"{r['precision_mean']:.3f}", f"{r['recall_mean']:.3f}", cyc])
        parts += [f"## {text}", "", markdown_table(
            ["method", "content accuracy %", "FID (clf)", "KID (clf)", "precision", "recall", "cycle L1"], rows), ""]
    parts += [
        "Content accuracy: the MNIST classifier on the output (B mapped back by 255 − x) against the source digit. "
        "FID/KID/precision/recall: translations against real target test images in the MNIST classifier's 128-d "
        "feature space (not Inception). Cycle L1: mean |F(G(x)) − x| in [0, 1] units. With several seeds: "
        "mean over seeds.", "",
    ]
    parts += [f"![{p}]({p})" for p in result["plots"]] + [""]
    parts.append(settings_markdown(result))
    return "\n".join(parts)
