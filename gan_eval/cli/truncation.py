"""`gan-eval truncation RUN REAL`: the fidelity/diversity sweep over truncation ψ (no math here)."""

from pathlib import Path

import click

from .common import device_option, emit, json_option, quiet_option


@click.command("truncation", context_settings={"show_default": True})
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("real", type=click.Path(exists=True))
@click.option("--psi", default="0.25,0.5,0.75,1.0,1.5", help="Comma-separated ψ values.")
@click.option("-n", "n", type=int, default=5000, help="Samples per (variant, ψ).")
@click.option("--variant", "variants", default="resample,scale",
              help="resample (|z_i| > ψ redrawn; ψ is a threshold) and/or scale (z' = ψ z toward the mean latent).")
@click.option("--features", type=click.Choice(["inception", "mnist-classifier"]), default="inception",
              help="Feature space: TF-Inception pool3 (2048-d), or the MNIST classifier's 128-d features (28-px digits).")
@click.option("--n-real", type=int, default=None, help="Use only the first N REAL images [all].")
@click.option("--seed", type=int, default=0, help="Seed of the latents (the same for every ψ).")
@click.option("--figure", type=click.Path(dir_okay=False), default=None,
              help="Write a PNG: precision vs recall with ψ labels, and FID vs ψ.")
@click.option("--weights", default=None, help="Inception weights file [$GAN_EVAL_INCEPTION_WEIGHTS or download].")
@click.option("--no-cache", is_flag=True, help="Do not read or write REAL's features in the feature cache.")
@device_option
@json_option
@quiet_option
def truncation(run_dir, real, psi, n, variants, features, n_real, seed, figure, weights, no_cache, device, as_json,
               quiet):
    """Score samples of the run in RUN_DIR against REAL at each truncation ψ.

    For each variant and ψ: N samples, one feature pass, FID, precision, recall, density,
    coverage (and the MNIST-classifier Inception Score for 28-px digits). A row "none" scores
    the untruncated model. REAL's features come from one (cached) pass.
    """
    from gan_eval_models.truncation import markdown, plot_sweep, truncation_sweep

    result = truncation_sweep(run_dir, real, psi=psi, n=n, variants=[v.strip() for v in variants.split(",") if v.strip()],
                              features=features, seed=seed, n_real=n_real, device=device, weights=weights,
                              cache=not no_cache, quiet=quiet or as_json)
    if figure:
        Path(figure).parent.mkdir(parents=True, exist_ok=True)
        plot_sweep(result, figure)
        result["figure"] = str(figure)
    lines = [f"truncation sweep of {run_dir}: n={result['n']} per row, {result['n_real']} REAL images, "
             f"{result['features']} features", "", markdown(result)]
    if figure:
        lines.append(f"\nwrote {figure}")
    emit(result, as_json, lines)
