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
    "train": ("gan_eval.cli.train", "train", "Train a reference GAN (gan2014, dcgan, dcgan-small, dcgan-veegan, lsgan, acgan, sgan, cyclegan, stackgan)."),
    "sample": ("gan_eval.cli.train", "sample", "Draw samples from a trained run as PNGs or an .npz array."),
    "truncation": ("gan_eval.cli.truncation", "truncation", "Truncation sweep: FID, precision/recall per ψ of a trained run."),
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
    click.echo(printable(f"warning: {_one_line(message)}"), err=True)


def _one_line(message):
    return " ".join(str(message).split())


def _command_of(argv):
    """The click command `argv` runs (a subcommand of a group too), or None."""
    cmd, ctx = cli, None
    for arg in argv or ():
        if arg.startswith("-") or not isinstance(cmd, click.Group):
            break
        try:
            nxt = cmd.get_command(ctx, arg)
        except Exception:  # an import failure here must not hide the error being reported
            return None
        if nxt is None:
            break
        cmd = nxt
    return None if cmd is cli else cmd


def in_cli_terms(message, command):
    """`message` with the Python names of `command`'s parameters (``resume=True``, ``pack=1``,
    ``k_disc must``) spelled as its options (``--resume``, ``--pack 1``, ``--k-disc must``)."""
    import re

    if command is None:
        return message
    for p in command.params:
        opts = sorted(getattr(p, "opts", ()), key=lambda o: not o.startswith("--"))  # long names first
        if not isinstance(p, click.Option) or not opts or not p.name:
            continue
        opt, name = opts[0], re.escape(p.name)
        message = re.sub(rf"\b{name}=True\b", opt, message)
        message = re.sub(rf"\b{name}=False\b", f"no {opt}", message)
        message = re.sub(rf"(?<![\w-]){name}=", f"{opt} ", message)
        message = re.sub(rf"(^|; |\()({name})(?= must| applies)", rf"\g<1>{opt}", message)
        message = re.sub(rf"\b(with|without) {name}\b", rf"\g<1> {opt}", message)
        message = message.replace(f"{opt} ({opt})", opt)
    return message


def main(argv=None):
    import logging
    import warnings

    args = list(sys.argv[1:] if argv is None else argv)
    with warnings.catch_warnings():  # -q changes the filters for this command only
        warnings.showwarning = _one_line_warning
        try:
            _main(args)
        finally:
            logging.disable(logging.NOTSET)


def _main(args):
    try:
        if os.environ.get("WORLD_SIZE", "1").strip() not in ("", "0", "1"):  # torchrun, several processes
            from ..distributed import setup

            setup()  # join the process group; ranks > 0 print nothing
        cli.main(args=args, prog_name="gan-eval", standalone_mode=False)
    except GanEvalError as e:
        click.echo(printable(f"error: {_one_line(in_cli_terms(str(e), _command_of(args)))}"), err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as e:  # Click's own: one line, with where to read more
        where = e.ctx.command_path if e.ctx is not None else "gan-eval"
        click.echo(printable(f"error: {_one_line(e.format_message())} (see `{where} --help`)"), err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(printable(f"error: {_one_line(e.format_message())}"), err=True)
        sys.exit(2 if e.exit_code in (1, 2) else e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # a bug: say so plainly
        if os.environ.get("GAN_EVAL_DEBUG"):
            raise
        click.echo(printable(f"internal error: {type(e).__name__}: {_one_line(e)} (set GAN_EVAL_DEBUG=1 for the "
                             "traceback)"), err=True)
        sys.exit(1)
    sys.exit(0)
