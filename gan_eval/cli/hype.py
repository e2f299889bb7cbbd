"""`gan-eval hype serve` and `gan-eval hype report`: human evaluation (HYPE, Zhou et al. 2019)."""

import click

from .. import defaults
from .common import emit, json_option, warn


@click.group("hype")
def hype():
    """Human evaluation (HYPE): a rating web page and its report.

    `serve` shows raters real and fake images one at a time and stores each "real"/"fake"
    answer; `report` turns the stored answers into HYPE-infinity (the raters' error rate) with a
    bootstrap 95% interval over raters and images.
    """


@hype.command("serve")
@click.argument("real")
@click.argument("fake")
@click.option("--session", "session_dir", required=True, metavar="DIR",
              help="Session folder: schedule.json and judgments.sqlite live here. An existing session is resumed.")
@click.option("--n", type=int, default=None,
              help=f"Images per rater, half real, half fake (even). Default {defaults.HYPE_N} for a new session; "
                   "a resumed session keeps its own.")
@click.option("--seed", type=int, default=None,
              help=f"Seed of the image draw and of each rater's order. Default {defaults.SEED} for a new session.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback makes the page reachable from other machines.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port (0: any free port).")
@click.option("--time-mode", is_flag=True, default=False,
              help="HYPE_time: show each image briefly, exposure set by an adaptive staircase (100-1000 ms).")
def serve(real, fake, session_dir, n, seed, host, port, time_mode):
    """Serve the rating page for images from folders REAL and FAKE (recursive).

    Raters open the printed URL, enter a name and answer Real or Fake (keys R and F) for each
    image. Every answer is committed to SQLite as it is given; a rater who comes back with the
    same name continues where they stopped. Ctrl-C stops the server.
    """
    from ..hype.server import exposure_warning, make_server, serve as run

    server = make_server(session_dir, real, fake, n=n, seed=seed, time_mode=True if time_mode else None,
                         host=host, port=port)
    exposure = exposure_warning(host)
    if exposure:
        warn(exposure)
    run(server, echo=click.echo)


@hype.command("report")
@click.argument("session_dir", metavar="DIR")
@json_option
@click.option("--figure", type=click.Path(dir_okay=False), default=None,
              help="Write a bar chart of per-rater error rates here (png, pdf, svg).")
@click.option("--bootstrap", "n_bootstrap", type=int, default=defaults.HYPE_BOOTSTRAP, show_default=True,
              help="Bootstrap replicates for the 95% interval.")
@click.option("--seed", type=int, default=defaults.SEED, show_default=True, help="Seed of the bootstrap.")
def report(session_dir, as_json, figure, n_bootstrap, seed):
    """HYPE-infinity of session DIR with a bootstrap 95% CI, per class and per rater."""
    from ..hype.report import plot_raters, report_lines, session_report

    rep = session_report(session_dir, n_bootstrap=n_bootstrap, seed=seed)
    if figure:
        rep["figure"] = str(plot_raters(rep, figure))
    lines = report_lines(rep)
    if figure:
        lines.append(f"figure: {figure}")
    emit(rep, as_json, lines)
