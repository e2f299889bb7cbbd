"""Where a set of statistics came from: one small record, written into every statistics file and
every ``--json`` result, and compared before two sets are put into one metric.

FID values computed with another resize mode, other weights or another precision differ by far
more than the differences between implementations (10-20 % for the resize mode), so mixing them
is refused unless asked for (``allow_mismatch=True``, ``--allow-mismatch``).

A record holds the settings that change the numbers (``features``, ``resize``,
``weights_sha256``, ``precision``) and, for the reader, the ``gan_eval_version`` that wrote it.
``features`` names the feature space the statistics are taken from (``gan_eval.features.spaces``:
``inception`` is the TF-Inception pool3 of FID, ``dinov2-vitl14``, ``clip-vitb32``, ...).
"""

import json
import warnings
from dataclasses import asdict, dataclass

from .errors import GanEvalError

INCEPTION_POOL3 = "inception"  # = features.spaces.DEFAULT (pool3 of the TF-Inception)
KEY = "provenance"  # the .npz array holding the record as a JSON string
# Fields whose difference changes the numbers, with how the CLI names each setting.
COMPARED = {"features": "--features", "resize": "--resize", "weights_sha256": "weights", "precision": "--precision"}
MISMATCH_HINT = "use the file's settings, or pass --allow-mismatch (allow_mismatch=True) to compare anyway"


def _version():
    from . import __version__

    return __version__


@dataclass(frozen=True)
class Provenance:
    """The settings a set of features was computed with."""

    features: str = INCEPTION_POOL3
    resize: str = None
    weights_sha256: str = None
    precision: str = None
    gan_eval_version: str = None

    def to_dict(self):
        return asdict(self)

    def to_json(self):
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text):
        """The record in a statistics file, or None when it is absent or incomplete."""
        try:
            d = json.loads(str(text))
        except (TypeError, ValueError):
            return None
        if not isinstance(d, dict) or any(not isinstance(d.get(k), str) for k in COMPARED):
            return None
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__})

    def differences(self, other):
        """``[(field, mine, theirs)]`` for each compared setting in which the two differ."""
        return [(k, getattr(self, k), getattr(other, k)) for k in COMPARED if getattr(self, k) != getattr(other, k)]


def effective_precision(precision, device, quiet=False):
    """The precision a run really computes in: TF32 exists only on CUDA, so tf32 elsewhere is fp32
    (with a warning, as the setting cannot take effect)."""
    if precision == "tf32" and getattr(device, "type", str(device)) != "cuda":
        if not quiet:
            warnings.warn("--precision tf32 has no effect off CUDA (TF32 is a CUDA matmul mode); computing in fp32",
                          stacklevel=3)
        return "fp32"
    return precision


def for_run(resize, weights_sha256, precision, features=INCEPTION_POOL3):
    """The record of a run of this gan-eval (`precision`: the effective one)."""
    return Provenance(features=features, resize=resize, weights_sha256=weights_sha256, precision=precision,
                      gan_eval_version=_version())


def _show(field, value):
    if field == "weights_sha256":
        return f"weights sha256 {value[:12]}" if value else "unknown weights"
    return f"{COMPARED[field]} {value}"


def _describe(diffs):
    return "; ".join(f"{_show(k, a)}" for k, a, _ in diffs), "; ".join(f"{_show(k, b)}" for k, _, b in diffs)


def reconcile(files, run=None, allow_mismatch=False, quiet=False):
    """Check that statistics files fit the run (or, with no network run, each other).

    `files`: ``[(name, Provenance or None)]``, None for a file without a record (pytorch-fid,
    TTUR, older gan-eval files); `run`: the run's record, or None when no network runs.
    A recorded file whose settings differ raises GanEvalError naming both settings (a warning
    with `allow_mismatch`); a file without a record loads with one warning saying what is assumed.
    Returns the record the result stands on (the run's, else the files' common one, else None).
    """
    def refuse(message):
        if not allow_mismatch:
            raise GanEvalError(f"{message}; {MISMATCH_HINT}")
        if not quiet:
            warnings.warn(f"{message} (compared anyway: --allow-mismatch)", stacklevel=3)

    recorded = [(n, p) for n, p in files if p is not None]
    if run is not None:
        for name, p in recorded:
            diffs = p.differences(run)
            if diffs:
                mine, theirs = _describe(diffs)
                refuse(f"{name} was computed with {mine}, this run uses {theirs}")
        basis = run
    else:
        basis = recorded[0][1] if recorded else None
        for name, p in recorded[1:]:
            diffs = recorded[0][1].differences(p)
            if diffs:
                mine, theirs = _describe(diffs)
                refuse(f"{recorded[0][0]} was computed with {mine}, {name} with {theirs}")
    for name, p in files:
        if p is None and not quiet:
            if basis is not None:
                assumed = (f"{COMPARED['resize']} {basis.resize}, {_show('weights_sha256', basis.weights_sha256)}, "
                           f"--precision {basis.precision}, {basis.features}")
            else:
                assumed = "both were computed with the same settings"
            warnings.warn(f"{name}: statistics file without provenance (pytorch-fid/TTUR format); assuming {assumed}",
                          stacklevel=3)
    return basis


def side(name, kind, count, record, cache=None, recorded=True):
    """One side's entry of a ``--json`` result: where its numbers came from."""
    d = {"source": str(name), "kind": kind, "count": count, "cache": cache}
    d.update(record.to_dict() if record is not None else dict.fromkeys(Provenance.__dataclass_fields__))
    d["provenance_recorded"] = bool(recorded)
    return d
