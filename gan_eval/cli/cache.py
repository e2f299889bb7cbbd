"""`gan-eval cache list` and `gan-eval cache clear`: the on-disk feature cache."""

import click

from ..errors import GanEvalError
from .common import emit, json_option


def _size(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


@click.group()
def cache():
    """The feature cache ($GAN_EVAL_CACHE/features, default ~/.cache/gan_eval/features)."""


@cache.command("list")
@json_option
def list_entries(as_json):
    """One line per cache entry: key prefix, source, images, stored outputs, resize mode, weights
    (SHA-256 prefix), precision, size, created."""
    from .. import cache as feature_cache

    try:
        found = feature_cache.entries()
    except OSError as e:
        raise GanEvalError(f"cannot read the cache in {feature_cache.features_dir()} ({e.strerror or e})") from None
    rows = []
    for e in found:
        m = e["meta"] or {}
        outputs = list(m.get("outputs", []))
        if m.get("stats"):
            outputs.append("pool3-stats")
        rows.append({"key": e["key"], "source": m.get("source"), "location": m.get("location"),
                     "count": m.get("count"), "outputs": outputs, "resize": m.get("resize"),
                     "precision": m.get("precision"), "weights_sha256": m.get("weights_sha256"),
                     "size": e["size"], "created": m.get("created"), "readable": e["meta"] is not None})
    total = sum(r["size"] for r in rows)
    lines = [f"{r['key'][:12]}  {r['source'] or '(unreadable)'}  {r['count'] if r['count'] is not None else '?'} images"
             f"  {'+'.join(r['outputs']) or '-'}  resize={r['resize'] or '?'}"
             f"  weights={(r['weights_sha256'] or '?')[:12]}  precision={r['precision'] or '?'}"
             f"  {_size(r['size'])}  {r['created'] or '?'}" for r in rows]
    lines.append(f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'}, {_size(total)} in {feature_cache.features_dir()}")
    emit({"dir": str(feature_cache.features_dir()), "entries": rows, "total_size": total}, as_json, lines)


@cache.command("clear")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
def clear(yes, as_json):
    """Delete every cache entry."""
    from .. import cache as feature_cache

    if not yes:
        try:
            sure = click.confirm(f"Delete every entry in {feature_cache.features_dir()}?", err=True)
        except click.Abort:  # no answer (end of input, Ctrl-C at the prompt)
            click.echo("", err=True)  # end the prompt's line
            raise GanEvalError("no answer to the confirmation: nothing deleted (pass --yes to clear without asking)") \
                from None
        if not sure:
            emit({"removed": 0, "freed": 0}, as_json, ["nothing deleted"])
            return
    try:
        n, freed, failed = feature_cache.clear()
    except OSError as e:
        raise GanEvalError(f"cannot clear the cache in {feature_cache.features_dir()} ({e.strerror or e})") from None
    if failed:
        reasons = sorted({reason for _, reason in failed})
        raise GanEvalError(f"could not remove {len(failed)} of {len(failed) + n} files in {feature_cache.features_dir()} "
                           f"({'; '.join(reasons)}); removed {n}")
    emit({"removed": n, "freed": freed}, as_json, [f"removed {n} file{'' if n == 1 else 's'} ({_size(freed)})"])
