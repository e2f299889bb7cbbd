"""What the trainer writes besides checkpoints: sample pictures and periodic metrics.

Metrics are computed with a generator of their own (seeded from the run's seed), in eval
mode, so evaluating never changes the training run's random streams: a resumed run and an
uninterrupted one stay identical whatever their evaluation schedule.

- 2-D mixtures: :func:`gan_eval.mode_coverage` (modes captured, high-quality fraction, reverse
  KL; PacGAN/VEEGAN's 3σ rule) and :func:`gan_eval.mmd` against as many real points, from
  `eval_samples` (2500) samples.
- MNIST: :func:`gan_eval.parzen_log_likelihood` on a small validation subset (centres:
  `eval_samples` (1000) samples, σ chosen on 200 images of train[50000:], reported on the next 1000).
- Images, at the end: FID and KID through :func:`gan_eval.score` when the Inception weights
  resolve (by default only on CUDA, where it is cheap; ``fid=True`` asks for it on the CPU too).
A metric that refuses its input (GanEvalError) is logged as ``<name>_error`` instead of
stopping the run.
- SGAN / AC-GAN: test accuracy of the discriminator's class logits.
"""

import numpy as np
import torch

from gan_eval.atomic import write_atomic
from gan_eval.errors import GanEvalError

from .models.latent import sample_latent

GRID = 64


def to_uint8(x, output_range):
    """Generator output (N, C, H, W) in `output_range` → uint8 (N, H, W, C)."""
    lo, hi = output_range
    u = ((x.detach().float().cpu() - lo) / (hi - lo)).clamp(0, 1).mul(255).round().to(torch.uint8)
    return u.permute(0, 2, 3, 1).numpy()


@torch.no_grad()
def generate(G, n, generator, device, truncation=None, labels=None, batch_size=500, bn="eval"):
    """n samples from G (eval mode, restored afterwards).

    All latents (then the labels of a conditional G) are drawn first, on the CPU, from
    `generator`, so with ``bn="eval"`` (batch norm from its running statistics) the result does
    not depend on `batch_size` or the device. ``bn="batch"``: batch norm normalises each batch of
    `batch_size` samples by its own statistics (training mode; the running statistics are left
    as they were), as Metz et al.'s Stacked MNIST sampler does; the result then depends on it.
    """
    z = sample_latent(n, G.latent_dim, G.latent, generator, truncation)
    y = None
    if G.n_classes:
        y = torch.as_tensor(labels, dtype=torch.int64) if labels is not None else torch.randint(G.n_classes, (n,), generator=generator)
    was_training = G.training
    G.train(bn == "batch")
    kept = {k: v.clone() for k, v in G.named_buffers()} if bn == "batch" else None
    out = []
    try:
        for start in range(0, n, batch_size):
            yb = y[start : start + batch_size].to(device) if y is not None else None
            out.append(G(z[start : start + batch_size].to(device), yb).float().cpu())
    finally:
        G.train(was_training)
        if kept is not None:
            for k, v in G.named_buffers():
                v.copy_(kept[k])
    return torch.cat(out)


def sampling_options(cfg, hp):
    """generate()'s batch-norm keywords for a run: {} (eval mode) or {"bn": "batch", "batch_size": its batch size}."""
    return {"bn": "batch", "batch_size": int(hp["batch_size"])} if cfg.sample_bn == "batch" else {}


_CLASSIFIERS = {}


def stacked_mnist_scores(images, device):
    """Modes of 1000 covered and KL(histogram ‖ uniform) of uint8 Stacked MNIST images (N, 28, 28, 3),
    labelled channel by channel by the committed MNIST classifier."""
    from gan_eval.metrics.modes import stacked_mnist_modes

    from .classifier import load_classifier

    key = str(device)
    if key not in _CLASSIFIERS:
        _CLASSIFIERS[key] = load_classifier(device)
    r = stacked_mnist_modes(images, _CLASSIFIERS[key])
    return {"modes_covered": int(r["modes_covered"]), "kl": float(r["kl"]), "n_samples": int(r["n_samples"])}


def save_grid(images, path, nrow=8):
    """Save uint8 NHWC images as one PNG grid (2-px black gaps)."""
    from PIL import Image

    n, h, w, c = images.shape
    ncol = min(nrow, n)
    nrows = -(-n // ncol)
    canvas = np.zeros((nrows * (h + 2) + 2, ncol * (w + 2) + 2, c), dtype=np.uint8)
    for i, im in enumerate(images):
        r, q = divmod(i, ncol)
        canvas[2 + r * (h + 2) : 2 + r * (h + 2) + h, 2 + q * (w + 2) : 2 + q * (w + 2) + w] = im
    image = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    write_atomic(path, lambda f: image.save(f, format="PNG"))


def save_scatter(points, centres, path, title=""):
    """Scatter plot of 2-D samples with the mixture centres marked (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, color="tab:blue", label="samples")
    ax.scatter(centres[:, 0], centres[:, 1], s=30, marker="x", color="tab:red", label="modes")
    span = np.abs(centres).max() * 1.5 + 0.5
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    write_atomic(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)


def _guarded(name, fn, *args, **kwargs):
    """{name: fn(...)}, or {name + "_error": message} when the metric refuses the input."""
    try:
        return {name: fn(*args, **kwargs)}
    except GanEvalError as e:  # e.g. degenerate samples, or no Inception weights: log it, keep training
        return {f"{name}_error": str(e)}


@torch.no_grad()
def classifier_accuracy(D, x, y, columns, batch_size=500):
    """Accuracy of the argmax over D's class logits `columns` (SGAN: the first K, AC-GAN: all but the first)."""
    was_training = D.training
    D.eval()
    correct = 0
    try:
        for start in range(0, len(x), batch_size):
            logits = D(x[start : start + batch_size])[:, columns]
            correct += int((logits.argmax(1) == y[start : start + batch_size]).sum())
    finally:
        D.train(was_training)
    return correct / len(x)


def evaluate(run, step, final):
    """Write samples_<step>.png and return this evaluation's metrics (a dict of numbers)."""
    cfg, G, device = run.cfg, run.sampler, run.device
    seed_gen = torch.Generator().manual_seed(cfg.seed + 1)
    bn = sampling_options(cfg, run.hp)
    metrics = {}
    if run.spec["kind"] == "points":
        from gan_eval.metrics.mmd import mmd

        n = cfg.eval_samples or 2500
        pts = generate(G, n, seed_gen, device).double().numpy()
        cov = run.mixture.mode_counts(pts)
        metrics.update({k: cov[k] for k in ("modes_captured", "n_modes", "high_quality_fraction", "reverse_kl")})
        real = run.mixture.sample(n, torch.Generator().manual_seed(cfg.seed + 2), dtype=torch.float64).numpy()
        metrics.update(_guarded("mmd", mmd, pts, real))
        save_scatter(pts, run.mixture.centres, run.dir / f"samples_{step}.png", f"{cfg.model} on {cfg.dataset}, step {step}")
    else:
        grid = generate(G, GRID, torch.Generator().manual_seed(cfg.seed), device, **bn)
        save_grid(to_uint8(grid, G.output_range), run.dir / f"samples_{step}.png")
        if cfg.dataset == "stacked-mnist" and run.spec["shape"][1:] == (28, 28):
            images = to_uint8(generate(G, cfg.eval_samples or 1000, seed_gen, device, **bn), G.output_range)
            r = _guarded("stacked_mnist", stacked_mnist_scores, images, device)
            metrics.update(r.get("stacked_mnist", r))
        if cfg.dataset == "mnist" and run.validation is not None:
            from gan_eval.metrics.parzen import parzen_protocol

            n = cfg.eval_samples or 1000
            centres = to_uint8(generate(G, n, seed_gen, device), G.output_range).reshape(n, -1) / 255.0
            val = run.validation[:1200].reshape(min(1200, len(run.validation)), -1).double().numpy() / 255.0
            r = _guarded("parzen", parzen_protocol, centres, val[:200], val[200:1200], n_centres=n, n_validation=200)
            if "parzen" in r:
                metrics["parzen_ll_val"], metrics["parzen_sigma"] = r["parzen"]["mean"], r["parzen"]["sigma"]
            else:
                metrics.update(r)
        if final and (cfg.fid or (cfg.fid is None and device.type == "cuda")):
            metrics.update(_image_scores(run, seed_gen))
    objective = run.module.OBJECTIVE
    if run.test is not None and objective in ("sgan", "acgan"):
        x, y = run.test
        columns = slice(0, run.spec["n_classes"]) if objective == "sgan" else slice(1, None)
        metrics["test_accuracy"] = classifier_accuracy(run.D, x, y, columns)
    return metrics


def _image_scores(run, generator):
    """FID and KID of `eval_samples` generated images against as many training images (Inception features)."""
    from gan_eval.evaluate import score

    n = run.cfg.eval_samples or 1000
    fake = to_uint8(generate(run.sampler, n, generator, run.device, **sampling_options(run.cfg, run.hp)),
                    run.sampler.output_range)
    real = run.real_uint8(n)
    r = _guarded("fid", score, real, fake, metrics=("fid", "kid"), kid_subset_size=min(1000, n),
                 device=run.device, progress=False, cache=False, quiet=True)
    if "fid" not in r:
        return r  # {"fid_error": why}
    return {"fid": r["fid"]["fid"], "kid": r["fid"]["kid"]["mean"], "kid_std": r["fid"]["kid"]["std"]}
