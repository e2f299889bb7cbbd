"""`gan-eval fid` and `gan-eval stats`."""

import os
import tempfile

import click
import numpy as np

from .. import defaults
from .common import device_option, emit, json_option, quiet_option


def extraction_options(f):
    """Options shared by every command that runs the Inception network."""
    f = click.option("--precision", type=click.Choice(["fp32", "bf16x3", "tf32", "bf16", "auto"]), default="fp32",
                     show_default=True,
                     help="Arithmetic of the network's convolutions. bf16x3: three bfloat16 products per float32 one "
                          "(features within ~5e-5 of fp32; for AMX CPUs and GPU tensor cores, ~2x slower than fp32 "
                          "elsewhere). tf32/bf16: faster on GPUs "
                          "(bf16 also on AMX CPUs) but move FID by ~1e-3. auto: bf16x3 on AMX CPUs, else fp32. "
                          "See docs/precision.md.")(f)
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
                     help="Inception weight file (pytorch-fid .pth or TorchScript .pt). Default: "
                          "$GAN_EVAL_INCEPTION_WEIGHTS, then the cache, then a verified download.")(f)
    return f


@click.command()
@click.argument("path1", type=click.Path())
@click.argument("path2", type=click.Path())
@extraction_options
@click.option("--no-cache", is_flag=True, help="Neither read nor write the feature cache (see `gan-eval cache`).")
@json_option
@quiet_option
def fid(path1, path2, weights, resize, batch_size, device, num_workers, precision, no_cache, as_json, quiet):
    """Fréchet Inception Distance between PATH1 and PATH2.

    Each PATH is a folder of images (searched recursively), a .zip of images, a .npy/.npz of uint8
    images (NHWC or NCHW), or an .npz of statistics with arrays mu and sigma (as `gan-eval stats`
    and pytorch-fid write them).

    \b
    Example:
      gan-eval fid real/ fake/ --weights pt_inception-2015-12-05-6726825d.pth
    """
    from ..evaluate import fid as compute_fid

    r = compute_fid(path1, path2, weights=weights, resize=resize, batch_size=batch_size, device=device,
                    num_workers=num_workers, progress=not quiet, precision=precision, quiet=quiet,
                    cache=not no_cache)
    emit(r, as_json, [f"FID: {r['fid']:.6f}"])


@click.command()
@click.argument("path", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="Where to write the .npz (arrays mu, sigma, n).")
@extraction_options
@json_option
@quiet_option
def stats(path, output, weights, resize, batch_size, device, num_workers, precision, as_json, quiet):
    """Write the Inception statistics of PATH to an .npz.

    The file holds mu (2048) and sigma (2048 x 2048) in float64, the format of pytorch-fid and the
    TTUR code, plus n, the number of images. `gan-eval fid` accepts it in place of a folder.
    """
    from ..evaluate import compute_statistics
    from ..features.extract import load_network, resolve_precision

    precision = resolve_precision(precision, device)
    loaded = load_network(weights, quiet=quiet)
    mu, sigma, n = compute_statistics(path, weights=loaded, resize=resize, batch_size=batch_size, device=device,
                                      num_workers=num_workers, progress=not quiet, precision=precision, quiet=quiet)
    from ..distributed import is_main

    if not is_main():  # under torchrun only rank 0 writes
        return
    out_dir = os.path.dirname(os.path.abspath(output))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, mu=mu, sigma=sigma, n=n)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    r = {"output": output, "n": n, "resize": resize, "weights_sha256": loaded.sha256, "network_precision": precision}
    emit(r, as_json, [f"wrote {output} ({n} images)"])
