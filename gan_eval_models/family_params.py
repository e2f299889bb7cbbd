"""The hyperparameters of the multi-network families (cyclegan, stackgan), i.e. the keys of
``gan-eval train MODEL --param KEY=VALUE``: the type and allowed range of each, checked in one
place (:func:`check_params`) before any net is built. No torch here, so ``gan-eval train --help``
can list the keys cheaply; tests/test_multinet.py checks that the keys are the families' DEFAULTS.
"""

from typing import NamedTuple

from gan_eval.errors import GanEvalError


class Rule(NamedTuple):
    """kind: "int", "float" or "betas" (two numbers in [0, 1)); low/high: bounds (None: none);
    low_open: low itself excluded; nullable: None allowed (the family picks the value)."""

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    nullable: bool = False


POSITIVE_INT, COUNT, FRACTION = Rule("int", 1), Rule("int", 0), Rule("float", 0, 1)
RATE, WEIGHT = Rule("float", 0, low_open=True), Rule("float", 0)
SHARED = {"batch_size": POSITIVE_INT, "lr": RATE, "betas": Rule("betas"), "width": POSITIVE_INT,
          "schedule_steps": Rule("int", 1, nullable=True)}
PARAMS = {
    "cyclegan": {**SHARED, "n_res": COUNT, "lambda_cycle": WEIGHT, "lambda_identity": WEIGHT, "pool_size": COUNT,
                 "decay_start": FRACTION},
    # width 2 at least: Stage-II halves it once
    "stackgan": {**SHARED, "width": Rule("int", 2), "latent_dim": POSITIVE_INT, "c_dim": POSITIVE_INT,
                 "d_cond": POSITIVE_INT, "n_res": COUNT, "lambda_kl": WEIGHT, "stage1_fraction": FRACTION},
}
# NetsConfig fields that are also family parameters: give each one way only
CONFIG_FIELDS = ("batch_size", "lr", "width")


def allowed(rule):
    """The rule in words, e.g. 'an integer >= 1', 'a number in [0, 1]'."""
    if rule.kind == "betas":
        return "two numbers in [0, 1), e.g. [0.5,0.999]"
    noun = "an integer" if rule.kind == "int" else "a number"
    if rule.low is not None and rule.high is not None:
        text = f"{noun} in {'(' if rule.low_open else '['}{rule.low:g}, {rule.high:g}]"
    elif rule.low is not None:
        text = f"{noun} {'>' if rule.low_open else '>='} {rule.low:g}"
    else:
        text = noun
    return text + (" or null" if rule.nullable else "")


def _is_number(v, kind):
    import math

    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return isinstance(v, int) if kind == "int" else math.isfinite(v)


def _fits(rule, v):
    if v is None:
        return rule.nullable
    if rule.kind == "betas":
        return isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_number(b, "float") and 0 <= b < 1 for b in v)
    if not _is_number(v, rule.kind):
        return False
    if rule.low is not None and (v <= rule.low if rule.low_open else v < rule.low):
        return False
    return rule.high is None or v <= rule.high


def check_params(model, hp):
    """Raise GanEvalError naming the first key of `hp` (a dict of `model`'s hyperparameters) that is
    unknown or whose value is of the wrong type or out of range; "steps" is the trainer's own."""
    rules = PARAMS[model]
    for key, value in hp.items():
        if key == "steps":
            continue
        if key not in rules:
            raise GanEvalError(f"unknown {model} parameter {key}; known: {', '.join(sorted(rules))}")
        if not _fits(rules[key], value):
            raise GanEvalError(f"{model} parameter {key} must be {allowed(rules[key])}, got {value!r}")


def help_text():
    """The keys per family, for the --param option's help."""
    return "; ".join(f"{model}: {', '.join(sorted(rules))}" for model, rules in PARAMS.items())
