"""Run the `gan-eval` command line in-process, for the CLI tests."""

import pytest

from gan_eval.cli.main import main


def run_cli(args, capsys):
    """(exit code, stdout, stderr) of ``gan-eval ARGS`` (arguments converted with str)."""
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return e.value.code, out, err
