"""HYPE-infinity and HYPE_time from stored judgments, with bootstrap confidence intervals.

HYPE-infinity (Zhou et al., "HYPE: A Benchmark for Human eYe Perceptual Evaluation of Generative
Models", NeurIPS 2019) is the raters' error rate with no time limit, over all judgments of a
balanced set of real and fake images:

    HYPE_inf = (#fakes judged real + #reals judged fake) / #judgments

50% means people cannot tell the model from the data; above 50% the fakes look more real than
the reals. This is the paper's plain error rate; on the balanced schedule every complete rater
sees n/2 of each class, so it equals the mean of the two per-class rates, which we report too.

The paper's 95% interval comes from a bootstrap that resamples both raters and images. We draw
raters with replacement, and images with replacement within their class (so each replicate
keeps the design balanced), and weight each judgment by (rater draws) x (image draws); the
interval is the 2.5th-97.5th percentile of the replicates.
"""

from pathlib import Path

import numpy as np

from .. import defaults
from ..atomic import write_atomic
from ..errors import GanEvalError
from .session import DB_FILE, load_schedule
from .store import Store

_CHUNK_ELEMENTS = 1 << 22  # bootstrap work array: replicates x images, in float64


def _check_positive_int(v, name, minimum=1):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise GanEvalError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _labels(x, name):
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise GanEvalError(f"{name}: expected a 1-D sequence, got shape {arr.shape}")
    _, inverse = np.unique(arr, return_inverse=True)
    return inverse.reshape(-1)


def _bools(x, name):
    arr = np.asarray(x)
    if arr.ndim != 1 or not (arr.dtype == bool or np.isin(arr, (0, 1)).all()):
        raise GanEvalError(f"{name}: expected a 1-D sequence of booleans")
    return arr.astype(bool)


def _ratio(num, den):
    """num/den where den > 0, else None (never NaN)."""
    return float(num / den) if den > 0 else None


def _interval(values, confidence):
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    a = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(values, [a, 1.0 - a])
    return [float(lo), float(hi)]


def hype_infinity(
    raters, images, is_fake, judged_fake, n_bootstrap=defaults.HYPE_BOOTSTRAP, seed=defaults.SEED, confidence=0.95
):
    """HYPE-infinity error rate with a bootstrap interval over raters and images.

    Parameters
    ----------
    raters, images : sequences of labels, one per judgment (who judged, which image).
    is_fake : booleans, the image is generated.
    judged_fake : booleans, the rater answered "fake".
    n_bootstrap : replicates (default 2000); seed : their RNG seed; confidence : interval level.

    Returns a dict: ``hype_inf`` = errors / judgments, ``fake_judged_real`` = fakes answered
    real / fakes judged, ``real_judged_fake`` = reals answered fake / reals judged, each with a
    ``*_ci`` [low, high] percentile interval (None where a class has no judgments), and counts.

    Bootstrap (Zhou et al. 2019, sec. 4): each replicate draws R raters from the R with
    replacement and, within each class, as many images as it has with replacement; a judgment
    of rater r on image i counts c_r * c_i times (the draw counts), so
    replicate = sum c_r c_i err_ri / sum c_r c_i. Judgments where a rater never saw an image
    simply do not enter the sums.
    """
    r = _labels(raters, "raters")
    i = _labels(images, "images")
    fake = _bools(is_fake, "is_fake")
    said_fake = _bools(judged_fake, "judged_fake")
    if not (len(r) == len(i) == len(fake) == len(said_fake)):
        raise GanEvalError("raters, images, is_fake and judged_fake must have one entry per judgment")
    if len(r) == 0:
        raise GanEvalError("no judgments")
    n_bootstrap = _check_positive_int(n_bootstrap, "n_bootstrap")
    seed = _check_positive_int(seed, "seed", minimum=0)
    if not 0.0 < float(confidence) < 1.0:
        raise GanEvalError(f"confidence must be in (0, 1), got {confidence!r}")
    n_r, n_i = int(r.max()) + 1, int(i.max()) + 1

    image_fake = np.zeros(n_i, dtype=bool)
    image_fake[i[fake]] = True
    if (image_fake[i] != fake).any():
        raise GanEvalError("an image is labelled both real and fake")
    err = (fake != said_fake).astype(np.float64)
    E = np.zeros((n_r, n_i))
    M = np.zeros((n_r, n_i))
    np.add.at(E, (r, i), err)
    np.add.at(M, (r, i), 1.0)

    out = {
        "hype_inf": float(err.mean()),
        "fake_judged_real": _ratio(err[fake].sum(), fake.sum()),
        "real_judged_fake": _ratio(err[~fake].sum(), (~fake).sum()),
        "n_judgments": int(len(r)),
        "n_fake_judgments": int(fake.sum()),
        "n_real_judgments": int((~fake).sum()),
        "n_raters": n_r,
        "n_images": n_i,
    }

    rng = np.random.default_rng(seed)
    classes = [np.flatnonzero(image_fake), np.flatnonzero(~image_fake)]
    err_c = np.zeros((2, n_bootstrap))
    tot_c = np.zeros((2, n_bootstrap))
    chunk = max(1, _CHUNK_ELEMENTS // max(n_i, n_r))
    for start in range(0, n_bootstrap, chunk):
        b = min(chunk, n_bootstrap - start)
        w_r = rng.multinomial(n_r, np.full(n_r, 1.0 / n_r), size=b).astype(np.float64)
        RE, RM = w_r @ E, w_r @ M  # (b, images): draw-weighted errors and judgments per image
        for c, ids in enumerate(classes):
            if ids.size == 0:
                continue
            w_i = rng.multinomial(ids.size, np.full(ids.size, 1.0 / ids.size), size=b).astype(np.float64)
            err_c[c, start : start + b] = (RE[:, ids] * w_i).sum(axis=1)
            tot_c[c, start : start + b] = (RM[:, ids] * w_i).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        overall = err_c.sum(0) / tot_c.sum(0)
        per_class = err_c / tot_c
    out["hype_inf_ci"] = _interval(overall, confidence)
    out["fake_judged_real_ci"] = _interval(per_class[0], confidence) if out["fake_judged_real"] is not None else None
    out["real_judged_fake_ci"] = _interval(per_class[1], confidence) if out["real_judged_fake"] is not None else None
    return out


def modal_exposure(exposures):
    """The most frequent exposure (ms) of one rater's staircase; ties go to the shortest."""
    values, counts = np.unique(np.asarray(exposures, dtype=np.int64), return_counts=True)
    if values.size == 0:
        raise GanEvalError("no exposures")
    return int(values[np.argmax(counts)])


def hype_time(raters, exposures, n_bootstrap=defaults.HYPE_BOOTSTRAP, seed=defaults.SEED, confidence=0.95):
    """HYPE_time: the mean over raters of each rater's modal staircase exposure (ms).

    Zhou et al. (2019) take a rater's perceptual threshold as the modal exposure time of their
    staircase, and the score as its mean over raters. The interval resamples raters.
    Returns {"hype_time_ms", "hype_time_ci_ms", "modal_ms": {rater: ms}}.
    """
    raters = np.asarray(raters)
    exposures = np.asarray(exposures)
    if raters.shape != exposures.shape or raters.ndim != 1 or raters.size == 0:
        raise GanEvalError("raters and exposures must be equal-length, non-empty 1-D sequences")
    names = sorted(set(raters.tolist()))
    modes = np.array([modal_exposure(exposures[raters == nm]) for nm in names], dtype=np.float64)
    n_bootstrap = _check_positive_int(n_bootstrap, "n_bootstrap")
    rng = np.random.default_rng(_check_positive_int(seed, "seed", minimum=0))
    w = rng.multinomial(len(names), np.full(len(names), 1.0 / len(names)), size=n_bootstrap)
    reps = (w @ modes) / len(names)
    return {
        "hype_time_ms": float(modes.mean()),
        "hype_time_ci_ms": _interval(reps, confidence),
        "modal_ms": {nm: int(m) for nm, m in zip(names, modes)},
    }


def session_report(session_dir, n_bootstrap=defaults.HYPE_BOOTSTRAP, seed=defaults.SEED, confidence=0.95):
    """Everything the report prints, for a session directory: overall, per class, per rater.

    Without a time limit the overall rate is HYPE-infinity (key ``hype_inf``). In a HYPE_time
    session the same error rate is reported as ``error_rate`` (its images were time-limited),
    next to ``hype_time_ms``.
    """
    schedule = load_schedule(session_dir)
    rows = Store(f"{session_dir}/{DB_FILE}", create=False).judgments()
    if not rows:
        raise GanEvalError(f"{session_dir}: no judgments yet")
    raters = [r["rater"] for r in rows]
    res = hype_infinity(
        raters,
        [r["item"] for r in rows],
        [r["source"] == "fake" for r in rows],
        [r["answer"] == "fake" for r in rows],
        n_bootstrap=n_bootstrap,
        seed=seed,
        confidence=confidence,
    )
    res["n_images"] = schedule.n
    per_rater = []
    for name in sorted(set(raters)):
        mine = [r for r in rows if r["rater"] == name]
        errs = [r["source"] != r["answer"] for r in mine]
        fakes = [e for r, e in zip(mine, errs) if r["source"] == "fake"]
        reals = [e for r, e in zip(mine, errs) if r["source"] == "real"]
        per_rater.append(
            {
                "name": name,
                "answered": len(mine),
                "errors": int(sum(errs)),
                "error_rate": sum(errs) / len(mine),
                "fake_judged_real": _ratio(sum(fakes), len(fakes)),
                "real_judged_fake": _ratio(sum(reals), len(reals)),
                "median_response_ms": float(np.median([r["response_ms"] for r in mine])),
            }
        )
    out = {"session": str(session_dir), "mode": "time" if schedule.time_mode else "infinity"}
    if schedule.time_mode:
        res["error_rate"], res["error_rate_ci"] = res.pop("hype_inf"), res.pop("hype_inf_ci")
        exp = [(r["rater"], r["exposure_ms"]) for r in rows if r["exposure_ms"] is not None]
        if exp:
            t = hype_time([e[0] for e in exp], [e[1] for e in exp], n_bootstrap, seed, confidence)
            res["hype_time_ms"], res["hype_time_ci_ms"] = t["hype_time_ms"], t["hype_time_ci_ms"]
            for p in per_rater:
                p["modal_exposure_ms"] = t["modal_ms"].get(p["name"])
    out.update(res)
    out.update({"raters": per_rater, "bootstrap": int(n_bootstrap), "seed": int(seed), "confidence": float(confidence)})
    return out


def _pct(x):
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _ci(ci):
    return "" if ci is None else f"  (95% CI {_pct(ci[0])} to {_pct(ci[1])})"


def report_lines(rep):
    """The report as text lines."""
    key = "hype_inf" if rep["mode"] == "infinity" else "error_rate"
    title = "HYPE-infinity (error rate, no time limit)" if key == "hype_inf" else "error rate (time-limited)"
    lines = [f"{title}: {_pct(rep[key])}{_ci(rep[key + '_ci'])}"]
    if "hype_time_ms" in rep:
        ci = rep["hype_time_ci_ms"]
        lines.append(
            f"HYPE_time (mean modal exposure): {rep['hype_time_ms']:.0f} ms  (95% CI {ci[0]:.0f} to {ci[1]:.0f} ms)"
        )
    lines += [
        f"  fakes judged real: {_pct(rep['fake_judged_real'])}{_ci(rep['fake_judged_real_ci'])}",
        f"  reals judged fake: {_pct(rep['real_judged_fake'])}{_ci(rep['real_judged_fake_ci'])}",
        f"  {rep['n_raters']} raters, {rep['n_judgments']} judgments ({rep['n_fake_judgments']} fake, "
        f"{rep['n_real_judgments']} real) of {rep['n_images']} images; bootstrap {rep['bootstrap']} replicates "
        f"over raters and images, seed {rep['seed']}",
        "",
        f"  {'rater':<20} {'answered':>9} {'error':>7} {'fake->real':>11} {'real->fake':>11} {'median RT':>10}",
    ]
    for p in rep["raters"]:
        lines.append(
            f"  {p['name']:<20} {p['answered']:>4}/{rep['n_images']:<4} {_pct(p['error_rate']):>7} "
            f"{_pct(p['fake_judged_real']):>11} {_pct(p['real_judged_fake']):>11} "
            f"{p['median_response_ms'] / 1000:>9.2f}s"
        )
    return lines


def plot_raters(rep, path):
    """Bar chart of per-rater error rates with the overall rate and its interval (PNG/PDF/SVG).

    Drawn on a bare matplotlib Figure (Agg canvas), so pyplot's global state is never touched.
    """
    from matplotlib.figure import Figure

    key = "hype_inf" if rep["mode"] == "infinity" else "error_rate"
    raters = rep["raters"]
    x = np.arange(len(raters))
    fig = Figure(figsize=(max(5.0, 0.55 * len(raters) + 2.5), 3.6), dpi=120)
    ax = fig.subplots()
    ax.bar(x, [p["error_rate"] for p in raters], width=0.6, color="#8fb3d9", label="rater error rate", zorder=2)
    for k, marker, label in (("fake_judged_real", "^", "fakes judged real"),
                             ("real_judged_fake", "v", "reals judged fake")):
        pts = [(j, p[k]) for j, p in enumerate(raters) if p[k] is not None]
        if pts:
            ax.scatter(*zip(*pts), marker=marker, s=28, zorder=3, label=label)
    ci = rep[key + "_ci"]
    if ci is not None:
        ax.axhspan(ci[0], ci[1], color="#f0b27a", alpha=0.3, zorder=1, label="95% CI")
    name = "HYPE∞" if key == "hype_inf" else "error rate"
    ax.axhline(rep[key], color="#c0392b", lw=1.5, zorder=4, label=f"{name} = {100 * rep[key]:.1f}%")
    ax.axhline(0.5, color="grey", lw=1, ls="--", zorder=1, label="chance (50%)")
    many = len(raters) > 6
    ax.set_xticks(x, [p["name"] for p in raters], rotation=30 if many else 0, ha="right" if many else "center")
    ax.set_ylim(0, 1)
    ax.set_ylabel("error rate")
    ax.set_title(f"error rate per rater ({rep['n_raters']} raters, {rep['n_judgments']} judgments)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    try:
        write_atomic(path, lambda f: fig.savefig(f, format=Path(path).suffix[1:].lower() or "png"))
    except (OSError, ValueError) as e:
        raise GanEvalError(f"cannot write the figure {path}: {e}") from None
    return path
