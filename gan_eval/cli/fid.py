"""`gan-eval fid` and `gan-eval stats`."""

import click

from .. import defaults
from .common import count, data_dir_option, device_option, emit, json_option, named_input, quiet_option, seed_option


FEATURE_SPACES = ("inception", "dinov2-vitl14", "dinov2-vitb14", "clip-vitb32")  # = features.spaces.SPACES


def uncertainty_options(f):
    """--infinity, --ci and --bootstrap (fid and score)."""
    f = click.option("--bootstrap", "replicates", type=click.IntRange(min=2), default=defaults.BOOTSTRAP_REPLICATES,
                     show_default=True, help="Bootstrap resamples for --ci (for precision/recall/density/coverage: "
                          "random half-sample splits).")(f)
    f = click.option("--ci", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
                     help="Add confidence intervals at this level (e.g. 0.95), from the kept features.")(f)
    f = click.option("--infinity", is_flag=True,
                     help="Add the distance extrapolated to infinitely many generated images (FID∞, "
                          "Chong & Forsyth 2020), with the fit's points in --json.")(f)
    return f


def check_uncertainty(ci):
    """Refuse --bootstrap without --ci: it would be ignored without a word."""
    from click.core import ParameterSource

    from ..errors import GanEvalError

    if ci is None and click.get_current_context().get_parameter_source("replicates") is ParameterSource.COMMANDLINE:
        raise GanEvalError("--bootstrap sets the resamples of --ci; pass --ci LEVEL (e.g. --ci 0.95) too")


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
        how = (f"half-sample standard error, {v['replicates']} random splits" if v["method"] == "half-sample"
               else f"{v['method']} bootstrap, {v['replicates']} resamples")
        lines.append(f"{label} {100 * v['level']:g}% CI: [{v['low']:{fmt}}, {v['high']:{fmt}}] ({how})")
    return lines


def allow_mismatch_option(f):
    return click.option("--allow-mismatch", is_flag=True,
                        help="Compare with a statistics file recorded with another --resize, other weights or another "
                             "--precision (refused otherwise: the numbers are not comparable).")(f)


def extraction_options(f):
    """Options shared by every command that runs a feature network."""
    f = click.option("--precision", type=click.Choice(["fp32", "bf16x3", "tf32", "bf16", "auto"]), default="fp32",
                     show_default=True,
                     help="Arithmetic of the network's convolutions. bf16x3: three bfloat16 products per float32 one "
                          "(features within ~5e-5 of fp32; for AMX CPUs and GPU tensor cores, ~2x slower than fp32 "
                          "elsewhere). tf32/bf16: faster on GPUs "
                          "(bf16 also on AMX CPUs) but move FID by ~1e-3. auto: bf16x3 on AMX CPUs, else fp32. "
                          "See docs/precision.md.")(f)
    f = click.option("--num-workers", type=count(0), default=None,
                     help="DataLoader processes that decode and resize images. Default: on CUDA up to 4; on CPU only as "
                          "many as the network's threads leave cores idle (often 0).")(f)
    f = device_option(f)
    f = data_dir_option(f)
    f = click.option("--batch-size", type=count(), default=None,
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
@allow_mismatch_option
@json_option
@quiet_option
def fid(path1, path2, weights, features, resize, batch_size, data_dir, device, num_workers, precision, infinity, ci,
        replicates, seed, no_cache, allow_mismatch, as_json, quiet):
    """Fréchet Inception Distance between PATH1 and PATH2 (FD_DINOv2, FD_CLIP with --features).

    Each PATH is a folder of images (searched recursively), a .zip of images, a .npy/.npz of uint8
    images (NHWC or NCHW), an MNIST idx file, a dataset name (mnist-train, mnist-test,
    cifar10-train, cifar10-test, with an optional slice such as mnist-train[:10000]), or an .npz
    of statistics with arrays mu and sigma (as `gan-eval stats` and pytorch-fid write them). A
    statistics file recorded with another --resize, other weights or another --precision than this
    run's is refused (see --allow-mismatch); --json says, per input, where its numbers came from.
    --infinity extrapolates over subsets of PATH2 (the generated images); --ci resamples both.

    \b
    Examples:
      gan-eval fid real/ fake/ --weights pt_inception-2015-12-05-6726825d.pth
      gan-eval fid samples.npz mnist-test --data-dir data/mnist
      gan-eval fid real/ fake/ --features dinov2-vitl14 --weights dinov2_vitl14_pretrain.pth --ci 0.95
    """
    from ..evaluate import fid as compute_fid

    check_uncertainty(ci)
    path1, path2 = named_input(path1, data_dir), named_input(path2, data_dir)
    r = compute_fid(path1, path2, weights=weights, resize=resize, batch_size=batch_size, device=device,
                    num_workers=num_workers, progress=not quiet, precision=precision, quiet=quiet,
                    cache=not no_cache, allow_mismatch=allow_mismatch, features=features, infinity=infinity, ci=ci,
                    bootstrap=replicates, seed=seed)
    key = "fid" if "fid" in r else "fd"
    label = _name("fd", r)
    emit(r, as_json, [f"{label}: {r[key]:.6f}"] + uncertainty_lines(r, key, label, ".6f"))


@click.command()
@click.argument("path", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="Where to write the .npz (arrays mu, sigma, n, provenance); .npz is appended to a name without it.")
@extraction_options
@json_option
@quiet_option
def stats(path, output, weights, features, resize, batch_size, data_dir, device, num_workers, precision, as_json, quiet):
    """Write the feature statistics of PATH to an .npz (Inception's by default).

    The file holds mu (2048) and sigma (2048 x 2048) in float64, the format of pytorch-fid and the
    TTUR code, plus n, the number of images, and the provenance: feature space, resize mode, weights
    SHA-256, precision and gan-eval version (with --features, mu and sigma have that space's
    dimension). `gan-eval fid` accepts it in place of a folder and refuses to mix it with a run of
    other settings. PATH is anything `gan-eval fid` takes, e.g. a dataset name:
    gan-eval stats mnist-train -o m.npz
    """
    from ..distributed import is_main
    from ..evaluate import compute_statistics
    from ..statsfile import statistics_path

    written = statistics_path(output)
    mu, sigma, n = compute_statistics(named_input(path, data_dir), weights=weights, resize=resize, batch_size=batch_size,
                                      device=device, num_workers=num_workers, progress=not quiet, precision=precision,
                                      quiet=quiet, features=features,
                                      output=output if is_main() else None)  # under torchrun only rank 0 writes
    if not is_main():
        return
    from ..inputs import load_statistics

    record = load_statistics(written).provenance
    settings = record.to_dict()
    settings["network_precision"] = settings.pop("precision")  # as in fid's and score's --json
    r = {"output": str(written), "source": str(path), "n": n, **settings}
    emit(r, as_json, [f"wrote {written} ({n} images, {record.features} features)"])
