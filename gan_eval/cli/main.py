"""The `gan-eval` command: a click group whose subcommands live one per module.

Subcommands are imported only when used, so `gan-eval --help` stays fast and a heavy import
(torch, the models) never slows another command. Errors the user can fix (GanEvalError) print
one line and exit 2; anything else is a bug and exits 1 (set GAN_EVAL_DEBUG=1 for the traceback).
"""

import importlib
import os
import sys

import click

from ..errors import GanEvalError
from .common import printable

# name -> (module, attribute, one-line help shown by `gan-eval --help`)
COMMANDS = {
    "fid": ("gan_eval.cli.fid", "fid", "Fréchet Inception Distance between two image sets or statistics files."),
    "stats": ("gan_eval.cli.fid", "stats", "Write Inception mean/covariance statistics (.npz, pytorch-fid format)."),
    "score": ("gan_eval.cli.score", "score", "Several metrics (fid, is, kid, prdc) from one feature pass."),
    "cache": ("gan_eval.cli.cache", "cache", "List or clear the on-disk feature cache."),
    "parzen": ("gan_eval.cli.parzen", "parzen", "Parzen-window log-likelihood with a validation-tuned bandwidth."),
    "train": ("gan_eval.cli.train", "train", "Train a reference GAN (gan2014, dcgan, dcgan-small, lsgan, acgan, sgan)."),
    "sample": ("gan_eval.cli.train", "sample", "Draw samples from a trained run as PNGs or an .npz array."),
    "reproduce": ("gan_eval.cli.reproduce", "reproduce", "Reproduce a published table in one command."),
    "hype": ("gan_eval.cli.hype", "hype", "Human evaluation (HYPE): rating web page and report."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return [n for n, (mod, _, _) in COMMANDS.items() if importlib.util.find_spec(mod) is not None]

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        mod, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(mod), attr)

    def format_commands(self, ctx, formatter):
        rows = [(n, COMMANDS[n][2]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="gan-eval")
def cli():
    """Scores for generative adversarial networks.

    Every metric is also a plain Python function (see `import gan_eval`). Run
    `gan-eval COMMAND --help` for a command's options. Exit codes: 0 ok, 2 bad input or usage,
    1 internal error.
    """


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(printable(f"warning: {message}"), err=True)


def main(argv=None):
    import logging
    import warnings

    with warnings.catch_warnings():  # -q changes the filters for this command only
        warnings.showwarning = _one_line_warning
        try:
            _main(argv)
        finally:
            logging.disable(logging.NOTSET)


def _main(argv):
    try:
        if os.environ.get("WORLD_SIZE", "1").strip() not in ("", "0", "1"):  # torchrun, several processes
            from ..distributed import setup

            setup()  # join the process group; ranks > 0 print nothing
        cli.main(args=argv, prog_name="gan-eval", standalone_mode=False)
    except GanEvalError as e:
        click.echo(printable(f"error: {e}"), err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:  # a usage error: one line, like every other error
        hint = f" (see `{e.ctx.command_path} -h`)" if isinstance(e, click.UsageError) and e.ctx is not None else ""
        click.echo(printable(f"error: {e.format_message()}{hint}"), err=True)
        sys.exit(2 if e.exit_code in (1, 2) else e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # a bug: say so plainly
        if os.environ.get("GAN_EVAL_DEBUG"):
            raise
        click.echo(printable(f"internal error: {type(e).__name__}: {e} (set GAN_EVAL_DEBUG=1 for the traceback)"), err=True)
        sys.exit(1)
    sys.exit(0)
