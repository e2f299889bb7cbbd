"""StackGAN (Zhang et al. 2017) on class-conditional MNIST: Stage-I (16 px) against Stage-I+II (32 px).

The paper's evaluation (Table 1: Inception score; Table 2 / §5.2: Stage-I vs Stage-I+II) is
redone with the committed MNIST classifier (:mod:`gan_eval_models.classifier`) in place of the
Inception network: for `n_eval` samples (an equal number per class, latents and CA noise from a
fixed seed) the table reports

- classifier Inception Score (exp E KL(p(y|x) ‖ p(y)), 10 splits; at most 10 for 10 classes);
- conditional accuracy: the fraction of samples the classifier reads as the class asked for;
- FID, precision and recall (k = 3) in the classifier's 128-d feature space
  (:mod:`gan_eval_models.feature_scores`) against as many real MNIST images (train[50000:],
  never trained on) resized to the same resolution; images are resized to 28 px for the
  classifier, so a 16-px image is judged after upsampling.

Rows: real test digits at 16 and at 32 px (the ceiling of each score), Stage-I at 16 px, Stage-I
upsampled bilinearly to 32 px (what Stage-II starts from), and Stage-I+II at 32 px.
"""

import time

import numpy as np
import torch

from gan_eval_models.classifier import load_classifier

from .common import (
    finish,
    log,
    markdown_table,
    mean_std,
    prepare_out,
    save_sample_grids,
    settings_markdown,
)

NAME = "stackgan"
TITLE = "StackGAN on MNIST: Stage-I (16 px) vs Stage-I+II (32 px), classifier scores"

FULL = {"steps": 4000, "batch_size": 32, "width": 12, "params": {"stage1_fraction": 0.75}, "n_eval": 5000, "seeds": 1}
QUICK = {"steps": 20, "batch_size": 16, "width": 4, "params": {"n_res": 1}, "n_eval": 200, "seeds": 1}
SAMPLE_SEED = 1234
ROWS = ("real test digits, 16 px", "Stage-I, 16 px", "real test digits, 32 px", "Stage-I upsampled to 32 px",
        "Stage-I+II, 32 px")


def run(out, work, quick=False, seeds=None, device=None, data_dir=None, quiet=False, command="", jobs=1):
    from gan_eval_models.datasets.mnist import load_mnist
    from gan_eval_models.multinet import ensure_trained, load_trained

    start, cpu_start = time.time(), time.process_time()
    out = prepare_out(out)
    s = QUICK if quick else FULL
    seeds = list(range(seeds or s["seeds"]))
    n = s["n_eval"] - s["n_eval"] % 10
    train_images, _ = load_mnist(data_dir, "train")
    test_images, test_labels = load_mnist(data_dir, "test")
    ref = np.array(train_images[50_000:50_000 + n])
    test, test_y = np.array(test_images[:n]), np.array(test_labels[:n])
    classifier = load_classifier(device)
    per_seed, seconds, panels = [], [], {}
    for seed in seeds:
        name = f"stackgan-s{seed}"
        log(f"training {name} ({s['steps']} steps)", quiet)
        summary = ensure_trained(work, name, model="stackgan", dataset="mnist", steps=s["steps"], seed=seed,
                                 device=device, batch_size=s["batch_size"], width=s["width"], params=s["params"],
                                 data_dir=data_dir, quiet=True, log_every=50, checkpoint_every=100)
        seconds.append(summary["train_time_total_s"])
        trainer, _ = load_trained(f"{work}/{name}", device)
        labels = np.tile(np.arange(10), n // 10)
        low, high = trainer.generate(labels, seed=SAMPLE_SEED)
        images = {"real test digits, 16 px": (_resize(test, 16), test_y, 16),
                  "Stage-I, 16 px": (low, labels, 16),
                  "real test digits, 32 px": (_resize(test, 32), test_y, 32),
                  "Stage-I upsampled to 32 px": (_resize(low, 32), labels, 32),
                  "Stage-I+II, 32 px": (high, labels, 32)}
        per_seed.append(_evaluate(images, {16: _resize(ref, 16), 32: _resize(ref, 32)}, classifier))
        if seed == seeds[0]:
            panels = {"Stage-I (16 px, shown at 32)": _resize(low[:80], 32)[..., None],
                      "Stage-I+II (32 px)": high[:80, :, :, None]}
    ours = []
    for method in ROWS:
        rows = [r[method] for r in per_seed]
        row = {"method": method}
        for key in rows[0]:
            row[key + "_mean"], row[key + "_std"] = mean_std([r[key] for r in rows])
        row["train_seconds"] = [round(x, 1) for x in seconds] if method.startswith("Stage-I+II") else []
        ours.append(row)
    plots = ["samples.png"]
    stage1 = int(round(s["params"].get("stage1_fraction", 0.5) * s["steps"]))  # as the trainer lays it out
    save_sample_grids(panels, out / plots[0], nrow=10, title="StackGAN samples: column = class 0..9")
    result = {
        "table": NAME, "title": TITLE, "quick": quick, "seeds": seeds, "command": command, "ours": ours,
        "published": [], "plots": plots,
        "settings": {
            "training steps": f"{s['steps']} ({stage1} Stage-I, then {s['steps'] - stage1} Stage-II)",
            "batch size": s["batch_size"], "width w": s["width"], "condition": "class one-hot φ, CA c_dim 8, λ_KL 1 (KL averaged over the 8 dimensions)",
            "optimiser": "Adam 2e-4, β (0.5, 0.999), constant",
            "samples per row": f"{n} ({n // 10} per class, seed {SAMPLE_SEED})",
            "reference set for FID/P/R": f"MNIST train[50000:{50_000 + n}] resized to the row's resolution",
            "features": "MNIST classifier (128-d penultimate layer; images resized to 28 px), not Inception",
        },
    }
    return finish(out, result, markdown, start, cpu_start, device)


def _resize(images, size):
    from gan_eval_models.models.stackgan import resize_images

    x = torch.from_numpy(np.array(images, dtype=np.float32))[:, None]
    return resize_images(x, size)[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()


def _evaluate(images, refs, classifier):
    from gan_eval_models.feature_scores import classifier_outputs, scores

    ref_feats = {size: classifier_outputs(r[..., None], classifier)[0] for size, r in refs.items()}
    out = {}
    for method, (x, labels, size) in images.items():
        feats, logits = classifier_outputs(x[..., None], classifier)
        sc = scores(ref_feats[size], feats, logits, kid=False)
        out[method] = {"classifier_is": sc["classifier_is"]["mean"], "conditional_accuracy": float((logits.argmax(1) == labels).mean()),
                       "fid": sc["fid"], "precision": sc["precision"], "recall": sc["recall"]}
    return out


def markdown(result):
    rows = [[r["method"], f"{r['classifier_is_mean']:.2f}", f"{100 * r['conditional_accuracy_mean']:.1f}",
             f"{r['fid_mean']:.2f}", f"{r['precision_mean']:.3f}", f"{r['recall_mean']:.3f}"] for r in result["ours"]]
    parts = [f"# {result['title']}", "",
             markdown_table(["samples", "classifier IS", "conditional accuracy %", "FID (clf)", "precision", "recall"], rows),
             "",
             "Classifier IS and conditional accuracy (the asked class for samples, the true label for real digits) use "
             "the committed MNIST classifier; FID/precision/recall are computed in its 128-d feature space against "
             "held-out real MNIST at the row's resolution (not Inception features). With several seeds: mean over "
             "seeds.", ""]
    row = {r["method"]: r for r in result["ours"]}
    s1, s2, up = row["Stage-I, 16 px"], row["Stage-I+II, 32 px"], row["Stage-I upsampled to 32 px"]
    if s2["conditional_accuracy_mean"] < 0.2:
        parts += ["**The samples ignore their condition** (conditional accuracy near the 10% of chance): in a run "
                  "this short the matching-aware discriminator, which learns to reject real digits with a wrong "
                  "class, has not yet taught the generators to use c. Read the conditional columns of a longer run "
                  "(the full table without `--quick`, or `gan-eval train stackgan --steps N`); the Stage-I vs "
                  "Stage-I+II comparison does not depend on them.", ""]
    else:
        parts += [f"**Conditioning.** The classifier reads the asked class in "
                  f"{100 * s1['conditional_accuracy_mean']:.1f}% of Stage-I samples and "
                  f"{100 * s2['conditional_accuracy_mean']:.1f}% of Stage-I+II samples (chance: 10%; real digits: "
                  f"{100 * row['real test digits, 32 px']['conditional_accuracy_mean']:.1f}%).", "",
                  f"**What Stage-II adds.** Against Stage-I upsampled bilinearly to 32 px, Stage-I+II moves FID "
                  f"{up['fid_mean']:.2f} → {s2['fid_mean']:.2f}, precision {up['precision_mean']:.3f} → "
                  f"{s2['precision_mean']:.3f}, recall {up['recall_mean']:.3f} → {s2['recall_mean']:.3f} and "
                  f"classifier IS {up['classifier_is_mean']:.2f} → {s2['classifier_is_mean']:.2f}.", ""]
    parts += [f"![{p}]({p})" for p in result["plots"]] + [""]
    parts.append(settings_markdown(result))
    return "\n".join(parts)
