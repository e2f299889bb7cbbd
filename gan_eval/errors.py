"""The user-facing error type.

Anything the user can fix (a bad path, a corrupt image, too few samples, a wrong weight file)
raises :class:`GanEvalError`. The CLI prints its message on one line and exits with code 2;
any other exception is a bug and exits with code 1.
"""


class GanEvalError(Exception):
    """An error caused by the input or the options, with a message meant for the user."""


class WeightsError(GanEvalError):
    """A network weight file is missing, foreign, truncated or cannot be downloaded."""
