"""`gan-eval reproduce TABLE`: train, score and write a published table (no math here)."""

import shlex
from pathlib import Path

import click

from .common import count, device_option, emit, json_option, quiet_option

TABLE_NAMES = ("goodfellow2014", "mode-collapse-2d", "stacked-mnist", "cyclegan", "stackgan")


@click.command("reproduce")
@click.argument("table", type=click.Choice(TABLE_NAMES), metavar="TABLE")
@click.option("--quick", is_flag=True, help="A tiny run (seconds) that only checks the pipeline; its numbers mean nothing.")
@click.option("--seeds", type=count(), default=None, help="Training seeds 0..N-1 (default per table).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for TABLE.md, TABLE.json and the plots. Default: results/TABLE; with --quick "
                   "$GAN_EVAL_CACHE/quick/TABLE (a quick run never overwrites a full result).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="MNIST folder (default: $GAN_EVAL_DATA, else the download cache).")
@click.option("--work-dir", type=click.Path(file_okay=False), default=None,
              help="Keep the training runs here; a rerun reuses finished runs and resumes interrupted ones "
                   "(default: a temporary folder, deleted afterwards).")
@click.option("--jobs", type=count(), default=1, show_default=True,
              help="Training runs at once, each in its own process with one torch thread (up to the free CPU cores).")
@click.option("--setting", type=click.Choice(["default", "paper"]), default="default", show_default=True,
              help="paper: the paper's protocol and training length (mode-collapse-2d: PacGAN's 400,000 updates, "
                   "seeds trained as one batch; stacked-mnist: PacGAN's code's VEEGAN and D = 1/2 G settings, "
                   "100,000 and 500,000 iterations); see docs/reproduce-protocols.md.")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Training steps per run instead of the setting's (mode-collapse-2d, stacked-mnist).")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Minutes of training; then the table is written with each row at the step it reached "
                   "(--setting paper; with --work-dir the next call resumes).")
@device_option
@json_option
@quiet_option
def reproduce(table, quick, seeds, out, data_dir, work_dir, jobs, setting, steps, time_limit, device, as_json, quiet):
    """Reproduce a published table: goodfellow2014 (MNIST Parzen log-likelihood), mode-collapse-2d
    (PacGAN/VEEGAN ring and grid), stacked-mnist (modes out of 1000), cyclegan (MNIST ↔ restyled
    MNIST translation), stackgan (two-stage class-conditional MNIST).

    Writes TABLE.md and TABLE.json (ours beside the published numbers, with the settings, seeds
    and wall time) and PNG plots into --out.
    """
    from gan_eval_models.reproduce import reproduce as run

    from gan_eval_models.reproduce.common import QUICK_LABEL, quick_out

    from .common import removing_if_left_empty

    if out is None:
        out = quick_out(table) if quick else Path("results") / table
    out = Path(out)
    command = _command(table, quick, seeds, out, data_dir, work_dir, device, jobs, setting, steps, time_limit)
    with removing_if_left_empty(out), removing_if_left_empty(work_dir):
        result = run(table, out, quick=quick, seeds=seeds, device=device, data_dir=data_dir, work_dir=work_dir,
                     quiet=quiet, command=command, jobs=jobs, setting=setting, steps=steps, time_limit=time_limit)
    lines = [(out / "TABLE.md").read_text().split("\n## Settings")[0].rstrip(), "",
             f"wrote {', '.join(result['files'])} ({result['wall_time_s'] / 60:.1f} min)"]
    if quick:
        lines.append(f"{QUICK_LABEL}: these numbers only show that the pipeline runs")
    summary = {k: result[k] for k in ("table", "quick", "seeds", "wall_time_s", "ours", "published", "files")}
    emit(summary, as_json, lines)


def _command(table, quick, seeds, out, data_dir, work_dir, device, jobs=1, setting="default", steps=None,
             time_limit=None):
    parts = ["gan-eval", "reproduce", table]
    if quick:
        parts.append("--quick")
    for flag, value in (("--seeds", seeds), ("--out", out), ("--data-dir", data_dir), ("--work-dir", work_dir),
                        ("--device", device), ("--jobs", jobs if jobs > 1 else None),
                        ("--setting", setting if setting != "default" else None), ("--steps", steps),
                        ("--time-limit", time_limit)):
        if value is not None:
            parts += [flag, shlex.quote(str(value))]
    return " ".join(parts)
