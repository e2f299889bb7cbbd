"""The truncation sweep: fidelity against diversity as the latent is truncated.

Two ways to truncate a latent z ~ p(z) with a parameter ψ > 0:

- ``resample`` (Brock et al. 2019, BigGAN §3.1; Marchesi 2017): every component with |z_i| > ψ
  is drawn again, so ψ is a *threshold*; small ψ keeps the latent near the mode, large ψ (≳ 3 for
  a Gaussian) changes nothing. This is :func:`gan_eval_models.models.latent.sample_latent` with
  ``truncation=ψ``, the same draw as ``gan-eval sample --truncation``.
- ``scale`` (Karras et al. 2019, StyleGAN §2 and the appendix's "truncation trick in W"): z is
  pulled toward the mean latent, z' = z̄ + ψ (z − z̄); ψ = 1 is the untruncated model, ψ < 1
  trades diversity for fidelity, ψ > 1 extrapolates. Our generators have no mapping network, so
  the mean latent is that of p(z): z̄ = 0 for both the Gaussian and the uniform latent.

For each (variant, ψ) :func:`truncation_sweep` draws N samples (latents from one seeded
generator, the same seed for every ψ, so curves are paired draws), computes their features once,
and scores them against one feature pass over REAL: FID, precision, recall (k = 3), density,
coverage (k = 5) (Naeem et al. 2020) and, when the images are MNIST-like, the classifier
Inception Score. A ``none`` row scores the untruncated model once. Expected trend: as ψ shrinks,
precision (and density) rise while recall (and coverage) fall (Kynkäänniemi et al. 2019, Fig. 6).
"""

import math
import time

import numpy as np
import torch

from gan_eval import defaults
from gan_eval.errors import GanEvalError

from .feature_scores import check_features, classifier_outputs, features_of, scores
from .models.latent import sample_latent

VARIANTS = ("resample", "scale")
DEFAULT_PSI = (0.25, 0.5, 0.75, 1.0, 1.5)


def parse_psi(psi):
    """A tuple of positive floats from "0.25,0.5" or an iterable."""
    items = psi.split(",") if isinstance(psi, str) else list(psi)
    try:
        values = tuple(float(str(p).strip()) for p in items if str(p).strip())
    except ValueError:
        raise GanEvalError(f"psi must be comma-separated positive numbers, got {psi!r}") from None
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise GanEvalError(f"psi must be comma-separated positive numbers, got {psi!r}")
    return values


def truncated_latent(n, dim, kind, generator, psi=None, variant="resample"):
    """(n, dim) float32 latents truncated by `variant` at `psi` (None: untruncated)."""
    if variant not in VARIANTS:
        raise GanEvalError(f"unknown truncation variant {variant!r}; known: {', '.join(VARIANTS)}")
    if variant == "resample":
        return sample_latent(n, dim, kind, generator, truncation=psi)
    z = sample_latent(n, dim, kind, generator)
    mean = 0.0  # E z of the gaussian and the (symmetric) uniform latent
    return z if psi is None else mean + float(psi) * (z - mean)


@torch.no_grad()
def draw(G, n, seed, psi=None, variant="resample", batch_size=500):
    """n uint8 NHWC samples of generator `G` (eval mode) with latents truncated as asked.

    Class-conditional generators get uniformly drawn labels from the same seeded generator.
    """
    from .monitor import to_uint8

    if G.output_range is None:
        raise GanEvalError("the truncation sweep needs an image model, not 2-D points")
    gen = torch.Generator().manual_seed(int(seed))
    z = truncated_latent(n, G.latent_dim, G.latent, gen, psi, variant)
    y = torch.randint(G.n_classes, (n,), generator=gen) if G.n_classes else None
    device = next(G.parameters()).device
    was = G.training
    G.eval()
    try:
        out = [G(z[s:s + batch_size].to(device), None if y is None else y[s:s + batch_size].to(device)).float().cpu()
               for s in range(0, n, batch_size)]
    finally:
        G.train(was)
    return to_uint8(torch.cat(out), G.output_range)


def _real_features(real, space, n_real, weights, device, cache, out_shape):
    """Features (and classifier logits) of REAL: a path/array of images (uint8 NHWC or an ImageSource)
    of the generator's shape `out_shape` (C, H, W); other images are refused (a wrong REAL set scores
    a plausible but meaningless number once both sides are resized alike)."""
    from gan_eval.inputs import StatisticsInput, load_images, open_input

    src = open_input(real)
    if isinstance(src, StatisticsInput):
        raise GanEvalError(f"{src.name}: the sweep needs REAL's images (precision/recall use features), not statistics")
    if len(src):  # grey images load as three equal channels
        first = src.load(0)
        h, w, c = first.shape
        grey = c == 1 or bool((first == first[..., :1]).all())
        if (h, w) != tuple(out_shape[1:]) or (out_shape[0] == 1 and not grey):
            kind = "grey" if grey else "colour"
            want = "grey" if out_shape[0] == 1 else "colour"
            raise GanEvalError(f"{src.name}: REAL holds {h}x{w} {kind} images but the run generates "
                               f"{out_shape[1]}x{out_shape[2]} {want} ones; give images of the run's dataset")
    if space == "inception":
        from gan_eval.evaluate import LazyNetwork, cached_pass

        if n_real is not None and n_real < len(src):
            images = np.stack([src.load(i) for i in range(n_real)])
            return features_of(images, "inception", weights=weights, device=device)[0], "off"
        p, status = cached_pass(src, LazyNetwork(weights, True), defaults.DEFAULT_RESIZE, defaults.DEFAULT_BATCH_SIZE,
                                device, None, False, needed=("pool3",), quiet=True, cache=cache)
        return p.features["pool3"], status
    images = load_images(src)
    if n_real is not None:
        images = images[:n_real]
    return classifier_outputs(images)[0], "off"


def truncation_sweep(run_dir, real, psi=DEFAULT_PSI, n=5000, variants=VARIANTS, features="inception", seed=0,
                     n_real=None, device=None, weights=None, cache=True, classifier_is=None, quiet=True):
    """Score a trained run at several truncation levels.

    run_dir: a run folder of ``gan-eval train`` (an image model). real: REAL images (folder, zip,
    .npy/.npz, uint8 NHWC array). psi: ψ values (iterable or "0.25,0.5"). n: samples per
    (variant, ψ). variants: subset of ("resample", "scale"). features: "inception" (2048-d pool3)
    or "mnist-classifier" (128-d, see :mod:`gan_eval_models.feature_scores`). n_real: use only
    the first n_real REAL images. classifier_is: report the MNIST-classifier Inception Score
    (default: when the samples are 28×28 grey digits).

    Returns ``{"features", "n", "n_real", "seed", "rows": [{"variant", "psi", "fid", "precision",
    "recall", "density", "coverage", ["classifier_is"], "seconds"}, ...], "real_cache"}``; the
    first row has variant "none" (no truncation). Raises GanEvalError on bad arguments or a run
    that is not an image model.
    """
    from .models import MODELS
    from .multinet import family_of
    from .sample import load_generator

    check_features(features)
    psis = parse_psi(psi)
    variants = tuple(variants)
    bad = [v for v in variants if v not in VARIANTS]
    if bad or not variants:
        raise GanEvalError(f"variants must be among {', '.join(VARIANTS)}, got {', '.join(map(str, variants)) or 'none'}")
    if isinstance(n, bool) or int(n) != n or n < 6:
        raise GanEvalError(f"n must be an integer >= 6 (precision/recall need k + 1 samples), got {n!r}")
    if n_real is not None and (isinstance(n_real, bool) or int(n_real) != n_real or n_real < 6):
        raise GanEvalError(f"n_real (--n-real) must be an integer >= 6, got {n_real!r}")
    family = family_of(run_dir)
    if family is not None:
        raise GanEvalError(f"{run_dir}: a {family} run; the truncation sweep takes runs of `gan-eval train` with one "
                           f"generator ({', '.join(MODELS)})")
    G, cfg = load_generator(run_dir, device)
    if G.output_range is None:
        raise GanEvalError(f"{run_dir}: a 2-D point model; the truncation sweep needs an image model")
    if classifier_is is None:
        classifier_is = tuple(G.out_shape) == (1, 28, 28)
    real_feats, real_cache = _real_features(real, features, n_real, weights, device, cache, G.out_shape)
    if len(real_feats) < 6:
        raise GanEvalError("REAL needs at least 6 images")
    settings = [("none", None)] + [(v, p) for v in variants for p in psis]
    rows = []
    for variant, p in settings:
        t0 = time.time()
        images = draw(G, int(n), seed, p, "resample" if variant == "none" else variant)
        feats, logits = features_of(images, features, weights=weights, device=device)
        row = {"variant": variant, "psi": p}
        row.update(scores(real_feats, feats, logits if classifier_is else None, kid=False))
        if "classifier_is" in row:
            row["classifier_is"] = row["classifier_is"]["mean"]
        row["seconds"] = round(time.time() - t0, 2)
        rows.append(row)
        if not quiet:
            import sys

            print(f"  {variant} psi={p}: fid {row['fid']:.3f} precision {row['precision']:.3f} "
                  f"recall {row['recall']:.3f}", file=sys.stderr, flush=True)
    return {"run_dir": str(run_dir), "model": cfg.model, "dataset": cfg.dataset, "features": features, "n": int(n),
            "n_real": len(real_feats), "seed": int(seed), "psi": list(psis), "variants": list(variants),
            "rows": rows, "real_cache": real_cache}


def plot_sweep(result, path):
    """Two panels: precision against recall with ψ labels (one curve per variant), FID against ψ."""
    from .reproduce.common import pyplot

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    base = next(r for r in result["rows"] if r["variant"] == "none")
    colours = {"resample": "tab:blue", "scale": "tab:orange"}
    for v in result["variants"]:
        rows = [r for r in result["rows"] if r["variant"] == v]
        ax1.plot([r["recall"] for r in rows], [r["precision"] for r in rows], "o-", color=colours[v],
                 label=f"{v}")
        for r in rows:
            ax1.annotate(f"ψ={r['psi']:g}", (r["recall"], r["precision"]), fontsize=7, xytext=(3, 3),
                         textcoords="offset points", color=colours[v])
        ax2.plot([r["psi"] for r in rows], [r["fid"] for r in rows], "o-", color=colours[v], label=v)
    ax1.plot([base["recall"]], [base["precision"]], "k*", ms=10, label="no truncation")
    ax2.axhline(base["fid"], color="k", ls="--", lw=1, label="no truncation")
    ax1.set_xlabel("recall (k=3)")
    ax1.set_ylabel("precision (k=3)")
    ax1.set_title("precision vs recall", fontsize=9)
    ax2.set_xlabel("ψ")
    ax2.set_ylabel(f"FID ({result['features']} features)")
    ax2.set_title("FID vs ψ", fontsize=9)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Truncation sweep: {result['model']} on {result['dataset']}, n={result['n']}, "
                 f"{result['features']} features", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown(result):
    """A short markdown table of the sweep's rows."""
    from .reproduce.common import markdown_table

    has_is = any("classifier_is" in r for r in result["rows"])
    headers = ["variant", "ψ", "FID", "precision", "recall", "density", "coverage"] + (["classifier IS"] if has_is else [])
    rows = []
    for r in result["rows"]:
        row = [r["variant"], "—" if r["psi"] is None else f"{r['psi']:g}", f"{r['fid']:.3f}", f"{r['precision']:.3f}",
               f"{r['recall']:.3f}", f"{r['density']:.3f}", f"{r['coverage']:.3f}"]
        if has_is:
            row.append(f"{r.get('classifier_is', float('nan')):.2f}")
        rows.append(row)
    return markdown_table(headers, rows)
