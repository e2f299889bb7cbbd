"""`gan-eval score`: several metrics from one network pass per input."""

import click

from .. import defaults
from .common import count, emit, json_option, named_input, quiet_option, seed_option
from .fid import _name, allow_mismatch_option, check_uncertainty, extraction_options, uncertainty_lines, uncertainty_options


def _text_lines(r):
    def pm(v, fmt):
        return f"{v['mean']:{fmt}} ± {v['std']:{fmt}}"

    fd, kd = _name("fd", r), _name("kd", r)
    lines = []
    for key in ("fid", "fd"):
        if key in r:
            lines.append(f"{fd + ':':<11} {r[key]:.4f}")
            lines += uncertainty_lines(r, key, fd, ".4f")
    if "is" in r:
        lines.append(f"IS:         {pm(r['is'], '.4f')}")
    if "is_real" in r:
        lines.append(f"IS (real):  {pm(r['is_real'], '.4f')}")
    for key in ("kid", "kd"):
        if key in r:
            lines.append(f"{kd + ':':<11} {pm(r[key], '.6f')}")
            lines += uncertainty_lines(r, key, kd, ".6f")
    for name in ("precision", "recall", "density", "coverage"):
        if name in r:
            lines.append(f"{name + ':':<11} {r[name]:.4f}")
            lines += uncertainty_lines(r, name, name, ".4f")
    for name, why in r.get("skipped", {}).items():
        lines.append(f"skipped {name}: {why}")
    return lines


@click.command()
@click.argument("real", type=click.Path())
@click.argument("fake", type=click.Path())
@click.option("--metrics", default=None,
              help="Comma-separated metrics: fid, is (Inception Score of FAKE), kid, prdc "
                   "(precision, recall, density, coverage). Default: all four, less is (with a warning) when the "
                   "weights hold features only, and less is outside Inception's feature space (fid and kid then "
                   "report FD_<space> and KD_<space>).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the feature cache.")
@click.option("--kid-subsets", type=count(), default=defaults.KID_SUBSETS, show_default=True,
              help="KID: number of random subsets.")
@click.option("--kid-subset-size", type=count(2), default=defaults.KID_SUBSET_SIZE, show_default=True,
              help="KID: images per subset (shrunk, with a warning, to the smaller set).")
@click.option("--is-splits", type=count(), default=defaults.IS_SPLITS, show_default=True,
              help="IS: number of splits.")
@click.option("--k-pr", type=count(), default=defaults.PR_K, show_default=True,
              help="Precision/recall: k of the k-NN balls.")
@click.option("--k-dc", type=count(), default=defaults.DC_K, show_default=True,
              help="Density/coverage: k of the k-NN balls.")
@seed_option
@extraction_options
@uncertainty_options
@allow_mismatch_option
@json_option
@quiet_option
def score(real, fake, metrics, no_cache, kid_subsets, kid_subset_size, is_splits, k_pr, k_dc, seed, weights, features,
          resize, batch_size, data_dir, device, num_workers, precision, infinity, ci, replicates, allow_mismatch, as_json,
          quiet):
    """FID, IS, KID and precision/recall/density/coverage of FAKE against REAL.

    Each input goes through the Inception network once and every metric is computed from that
    pass; the network outputs are cached (see `gan-eval cache`), so scoring the same folder again
    skips the network. REAL and FAKE are what `gan-eval fid` takes; a statistics .npz can stand for
    REAL only with --metrics fid (and is, which scores FAKE alone).

    \b
    Example:
      gan-eval score real/ fake/ --metrics fid,kid,prdc --weights pt_inception-2015-12-05-6726825d.pth
      gan-eval score real/ fake/ --features dinov2-vitl14 --weights dinov2_vitl14_pretrain.pth --ci 0.95
    """
    from ..evaluate import score as compute_score

    check_uncertainty(ci)
    real, fake = named_input(real, data_dir), named_input(fake, data_dir)
    r = compute_score(real, fake, metrics=metrics, weights=weights, resize=resize, batch_size=batch_size,
                      device=device, num_workers=num_workers, progress=not quiet, cache=not no_cache,
                      kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, k_pr=k_pr, k_dc=k_dc,
                      is_splits=is_splits, seed=seed, precision=precision, quiet=quiet, features=features,
                      infinity=infinity, ci=ci, bootstrap=replicates, allow_mismatch=allow_mismatch)
    emit(r, as_json, _text_lines(r))
