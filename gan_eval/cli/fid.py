"""`gan-eval fid` and `gan-eval stats`."""

import os
import tempfile

import click
import numpy as np

from .. import defaults
from .common import device_option, emit, json_option, quiet_option, seed_option


FEATURE_SPACES = ("inception", "dinov2-vitl14", "dinov2-vitb14", "clip-vitb32")  # = features.spaces.SPACES


def uncertainty_options(f):
    """--infinity, --ci and --bootstrap (fid and score)."""
    f = click.option("--bootstrap", "replicates", type=click.IntRange(min=2), default=defaults.BOOTSTRAP_REPLICATES,
                     show_default=True, help="Bootstrap resamples for --ci.")(f)
    f = click.option("--ci", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
                     help="Add bootstrap confidence intervals at this level (e.g. 0.95), from the kept features.")(f)
    f = click.option("--infinity", is_flag=True,
                     help="Add the distance extrapolated to infinitely many generated images (FID∞, "
                          "Chong & Forsyth 2020), with the fit's points in --json.")(f)
    return f


def _name(metric, r):
    from ..features.spaces import metric_name

    return metric_name(metric, r.get("features") or "inception")


def uncertainty_lines(r, key, label, fmt):
    """Text lines for r[key + "_infinity"] and r[key + "_ci"] when present."""
    lines = []
    if key + "_infinity" in r:
        v = r[key + "_infinity"]
        lines.append(f"{label}∞: {v['value']:{fmt}} ± {v['stderr']:{fmt}} (fit over {len(v['points'])} sample sizes, "
                     f"{v['points'][0]['n']}..{v['points'][-1]['n']})")
    if key + "_ci" in r:
        v = r[key + "_ci"]
        lines.append(f"{label} {100 * v['level']:g}% CI: [{v['low']:{fmt}}, {v['high']:{fmt}}] "
                     f"({v['method']} bootstrap, {v['replicates']} resamples)")
    return lines


def extraction_options(f):
    """Options shared by every command that runs a feature network."""
    f = click.option("--precision", type=click.Choice(["fp32", "tf32", "bf16"]), default="fp32", show_default=True,
                     help="Arithmetic of the network. tf32/bf16 are faster on GPUs but change the numbers slightly.")(f)
    f = click.option("--num-workers", type=click.IntRange(min=0), default=None,
                     help="DataLoader processes that decode and resize images. Default: on CUDA up to 4; on CPU only as "
                          "many as the network's threads leave cores idle (often 0).")(f)
    f = device_option(f)
    f = click.option("--batch-size", type=click.IntRange(min=1), default=None,
                     help=f"Images per network batch. Default: {defaults.DEFAULT_BATCH_SIZE} on CPU; on CUDA, what fits "
                          "in half the free GPU memory (at most 512).")(f)
    f = click.option("--resize", type=click.Choice(defaults.RESIZE_MODES), default=defaults.DEFAULT_RESIZE,
                     show_default=True,
                     help="Preprocessing: tensorflow = TF1 bilinear as the original FID code (matches published "
                          "numbers); pytorch-fid = its F.interpolate; clean = clean-fid's PIL bicubic.")(f)
    f = click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="Weight file of the feature network (Inception: pytorch-fid .pth or TorchScript .pt; "
                          "DINOv2: Meta's dinov2_*_pretrain.pth or a timm .safetensors; CLIP: OpenAI's ViT-B-32.pt). "
                          "Default: $GAN_EVAL_INCEPTION_WEIGHTS (or $GAN_EVAL_<SPACE>_WEIGHTS), then the cache, "
                          "then a verified download.")(f)
    f = click.option("--features", type=click.Choice(FEATURE_SPACES), default="inception", show_default=True,
                     help="Feature space: inception (FID, KID), dinov2-vitl14 / dinov2-vitb14 (FD_DINOv2, as "
                          "dgm-eval), clip-vitb32 (FD_CLIP). See docs/feature-spaces.md.")(f)
    return f


@click.command()
@click.argument("path1", type=click.Path())
@click.argument("path2", type=click.Path())
@extraction_options
@uncertainty_options
@seed_option
@click.option("--no-cache", is_flag=True, help="Neither read nor write the feature cache (see `gan-eval cache`).")
@json_option
@quiet_option
def fid(path1, path2, weights, features, resize, batch_size, device, num_workers, precision, infinity, ci, replicates,
        seed, no_cache, as_json, quiet):
    """Fréchet Inception Distance between PATH1 and PATH2 (FD_DINOv2, FD_CLIP with --features).

    Each PATH is a folder of images (searched recursively), a .zip of images, a .npy/.npz of uint8
    images (NHWC or NCHW), or an .npz of statistics with arrays mu and sigma (as `gan-eval stats`
    and pytorch-fid write them). --infinity extrapolates over subsets of PATH2 (the generated
    images); --ci resamples both.

    \b
    Example:
      gan-eval fid real/ fake/ --weights pt_inception-2015-12-05-6726825d.pth
      gan-eval fid real/ fake/ --features dinov2-vitl14 --weights dinov2_vitl14_pretrain.pth --ci 0.95
    """
    from ..evaluate import fid as compute_fid

    r = compute_fid(path1, path2, weights=weights, resize=resize, batch_size=batch_size, device=device,
                    num_workers=num_workers, progress=not quiet, precision=precision, quiet=quiet,
                    cache=not no_cache, features=features, infinity=infinity, ci=ci, bootstrap=replicates, seed=seed)
    key = "fid" if "fid" in r else "fd"
    label = _name("fd", r)
    emit(r, as_json, [f"{label}: {r[key]:.6f}"] + uncertainty_lines(r, key, label, ".6f"))


@click.command()
@click.argument("path", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="Where to write the .npz (arrays mu, sigma, n, features).")
@extraction_options
@json_option
@quiet_option
def stats(path, output, weights, features, resize, batch_size, device, num_workers, precision, as_json, quiet):
    """Write the feature statistics of PATH to an .npz (Inception's by default).

    The file holds mu (2048) and sigma (2048 x 2048) in float64, the format of pytorch-fid and the
    TTUR code, plus n, the number of images, and features, the feature space's name (with
    --features, mu and sigma have that space's dimension). `gan-eval fid` accepts it in place of
    a folder.
    """
    from ..evaluate import compute_statistics
    from ..features.extract import load_network, preprocessing

    prep, _ = preprocessing(features, resize)
    loaded = load_network(weights, quiet=quiet, features=features)
    mu, sigma, n = compute_statistics(path, weights=loaded, resize=resize, batch_size=batch_size, device=device,
                                      num_workers=num_workers, progress=not quiet, precision=precision, quiet=quiet,
                                      features=features)
    from ..distributed import is_main

    if not is_main():  # under torchrun only rank 0 writes
        return
    out_dir = os.path.dirname(os.path.abspath(output))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, mu=mu, sigma=sigma, n=n, features=np.array(features))
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    r = {"output": output, "n": n, "features": features, "resize": prep, "weights_sha256": loaded.sha256}
    emit(r, as_json, [f"wrote {output} ({n} images, {features} features)"])
