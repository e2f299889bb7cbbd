"""HYPE report math: HYPE-infinity, its bootstrap interval, HYPE_time, and the `hype report` CLI.

References are closed forms: exact error counts of constructed judgment sets, and the binomial
distribution that the bootstrap replicates follow exactly in designs where only the raters (or
only the images) vary (scipy.stats.binom gives the reference quantiles).
"""

import json

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from gan_eval.cli.main import main
from gan_eval.errors import GanEvalError
from gan_eval.hype.report import hype_infinity, hype_time, modal_exposure, session_report
from gan_eval.hype.session import DB_FILE, create_schedule, rater_order, save_schedule
from gan_eval.hype.store import Store


def judgments(error_matrix, n_fake):
    """Flatten a raters x images 0/1 error matrix; images [0, n_fake) are fake, the rest real."""
    err = np.asarray(error_matrix, dtype=bool)
    r, i = np.nonzero(np.ones_like(err))
    is_fake = i < n_fake
    judged_fake = np.where(err[r, i], ~is_fake, is_fake)
    return r, i, is_fake, judged_fake


def cyclic(n_raters, n_per_class, wrong_per_class):
    """Each rater wrong on exactly `wrong_per_class` images of each class, shifted per rater."""
    e = np.zeros((n_raters, 2 * n_per_class), dtype=bool)
    for k in range(n_raters):
        for j in range(wrong_per_class):
            e[k, (k + j) % n_per_class] = True
            e[k, n_per_class + (k + 3 * j) % n_per_class] = True
    return e


def test_every_judgment_wrong_is_one():
    res = hype_infinity(*judgments(np.ones((5, 20)), 10), n_bootstrap=200)
    assert res["hype_inf"] == 1.0 and res["hype_inf_ci"] == [1.0, 1.0]
    assert res["fake_judged_real"] == 1.0 and res["real_judged_fake"] == 1.0
    assert res["n_judgments"] == 100 and res["n_raters"] == 5 and res["n_images"] == 20


def test_every_judgment_right_is_zero():
    res = hype_infinity(*judgments(np.zeros((3, 8)), 4), n_bootstrap=200)
    assert res["hype_inf"] == 0.0 and res["hype_inf_ci"] == [0.0, 0.0]


def test_constructed_thirty_percent():
    e = cyclic(10, 20, 6)  # 6 of 20 per class: 30% for every rater and class
    res = hype_infinity(*judgments(e, 20), n_bootstrap=1000)
    assert res["hype_inf"] == pytest.approx(0.3, abs=1e-12)
    assert res["fake_judged_real"] == pytest.approx(0.3, abs=1e-12)
    assert res["real_judged_fake"] == pytest.approx(0.3, abs=1e-12)
    lo, hi = res["hype_inf_ci"]
    assert lo < 0.3 < hi


def test_per_class_rates_and_plain_error_rate():
    # fakes: 8 of 20 judged real (40%); reals: 2 of 20 judged fake (10%); plain rate 10/40.
    e = np.zeros((1, 40), dtype=bool)
    e[0, :8] = True
    e[0, 20:22] = True
    res = hype_infinity(*judgments(e, 20), n_bootstrap=200)
    assert res["fake_judged_real"] == pytest.approx(0.4)
    assert res["real_judged_fake"] == pytest.approx(0.1)
    assert res["hype_inf"] == pytest.approx(0.25)
    assert res["n_fake_judgments"] == 20 and res["n_real_judgments"] == 20


def test_interval_narrows_with_more_raters_and_images():
    small = hype_infinity(*judgments(cyclic(8, 20, 6), 20), n_bootstrap=1000, seed=1)
    large = hype_infinity(*judgments(cyclic(32, 80, 24), 80), n_bootstrap=1000, seed=1)
    w_small = small["hype_inf_ci"][1] - small["hype_inf_ci"][0]
    w_large = large["hype_inf_ci"][1] - large["hype_inf_ci"][0]
    assert large["hype_inf_ci"][0] < 0.3 < large["hype_inf_ci"][1]
    assert w_large < 0.6 * w_small


def test_bootstrap_is_seeded():
    data = judgments(cyclic(6, 10, 3), 10)
    a = hype_infinity(*data, n_bootstrap=300, seed=7)
    b = hype_infinity(*data, n_bootstrap=300, seed=7)
    c = hype_infinity(*data, n_bootstrap=300, seed=8)
    assert a == b
    assert a["hype_inf_ci"] != c["hype_inf_ci"]


def test_raters_are_resampled_binomial_closed_form():
    """Half the raters always wrong, half always right: image draws cancel out, and a replicate
    is (draws of wrong raters)/R ~ Binomial(R, 1/2)/R exactly."""
    R = 20
    e = np.zeros((R, 10), dtype=bool)
    e[: R // 2] = True
    res = hype_infinity(*judgments(e, 5), n_bootstrap=4000, seed=0)
    ref = stats.binom.ppf([0.025, 0.975], R, 0.5) / R
    assert res["hype_inf"] == 0.5
    assert res["hype_inf_ci"] == pytest.approx(ref, abs=1.0 / R + 1e-9)


def test_images_are_resampled_within_class_binomial_closed_form():
    """All raters identical: rater draws cancel out. Reals all right, half the fakes fooling
    everyone: a replicate is Binomial(n_f, 1/2)/n_f / 2 (fake share of a balanced replicate)."""
    n_f = 40
    e = np.zeros((5, 2 * n_f), dtype=bool)
    e[:, : n_f // 2] = True
    res = hype_infinity(*judgments(e, n_f), n_bootstrap=4000, seed=0)
    ref = stats.binom.ppf([0.025, 0.975], n_f, 0.5) / n_f / 2
    assert res["hype_inf"] == 0.25
    assert res["hype_inf_ci"] == pytest.approx(ref, abs=1.0 / (2 * n_f) + 1e-9)
    assert res["real_judged_fake_ci"] == [0.0, 0.0]
    assert res["fake_judged_real_ci"] == pytest.approx(2 * ref, abs=1.0 / n_f + 1e-9)


def test_incomplete_raters_enter_with_what_they_answered():
    e = cyclic(4, 10, 3)
    r, i, f, j = judgments(e, 10)
    keep = ~((r == 0) & (i >= 5))  # rater 0 stopped early
    res = hype_infinity(r[keep], i[keep], f[keep], j[keep], n_bootstrap=200)
    assert res["hype_inf"] == pytest.approx(e[:, :].ravel()[keep].mean())
    assert res["n_judgments"] == int(keep.sum())


def test_one_class_only_gives_none_not_nan():
    res = hype_infinity(["a", "a"], [0, 1], [True, True], [False, True], n_bootstrap=100)
    assert res["fake_judged_real"] == 0.5 and res["real_judged_fake"] is None
    assert res["real_judged_fake_ci"] is None
    assert json.dumps(res)  # serialisable, no NaN


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (([], [], [], []), {}, "no judgments"),
        ((["a"], [0, 1], [True], [True]), {}, "one entry per judgment"),
        ((["a", "b"], [0, 0], [True, False], [True, True]), {}, "both real and fake"),
        ((["a"], [0], [True], [True]), {"n_bootstrap": 0}, "n_bootstrap must be an integer >= 1"),
        ((["a"], [0], [True], [True]), {"seed": -1}, "seed must be an integer >= 0"),
        ((["a"], [0], [True], [True]), {"confidence": 1.5}, "confidence must be in"),
        ((["a"], [0], ["yes"], [True]), {}, "is_fake: expected a 1-D sequence of booleans"),
    ],
)
def test_bad_input(args, kwargs, message):
    with pytest.raises(GanEvalError, match=message):
        hype_infinity(*args, **kwargs)


def test_modal_exposure_and_hype_time():
    assert modal_exposure([500, 490, 490, 500, 480]) == 490  # tie 490/500: the shorter
    res = hype_time(["a"] * 4 + ["b"] * 3, [300, 300, 310, 320, 200, 210, 210], n_bootstrap=500)
    assert res["modal_ms"] == {"a": 300, "b": 210}
    assert res["hype_time_ms"] == pytest.approx(255.0)
    assert res["hype_time_ci_ms"][0] >= 210 and res["hype_time_ci_ms"][1] <= 300


# --- a constructed session on disk, and the CLI ------------------------------------------------


def make_session(tmp_path, n=10, time_mode=False, answers=None):
    """A session of n images; `answers`: {rater: function(source, position) -> answer}."""
    rng = np.random.default_rng(0)
    for src in ("real", "fake"):
        (tmp_path / src).mkdir()
        for k in range(n // 2):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / src / f"{k}.png")
    sched = create_schedule(tmp_path / "real", tmp_path / "fake", n=n, seed=0, time_mode=time_mode)
    sess = tmp_path / "sess"
    sess.mkdir()
    save_schedule(sched, sess)
    store = Store(sess / DB_FILE)
    for name, rule in (answers or {}).items():
        order = store.rater_order(name, rater_order(n, 0, name))
        for pos, item in enumerate(order):
            src = sched.items[item].source
            store.record(name, pos, item, src, rule(src, pos), 800.0 + pos, 500 if time_mode else None)
    return sess


def test_session_report_on_a_constructed_database(tmp_path):
    sess = make_session(
        tmp_path,
        answers={
            "alice": lambda src, pos: "fake",  # every real wrong: 50% overall
            "bob": lambda src, pos: src,  # all right
        },
    )
    rep = session_report(sess, n_bootstrap=300, seed=0)
    assert rep["mode"] == "infinity" and rep["n_raters"] == 2 and rep["n_judgments"] == 20
    assert rep["hype_inf"] == pytest.approx(0.25)
    assert rep["fake_judged_real"] == 0.0 and rep["real_judged_fake"] == pytest.approx(0.5)
    by_name = {p["name"]: p for p in rep["raters"]}
    assert by_name["alice"]["error_rate"] == 0.5 and by_name["alice"]["real_judged_fake"] == 1.0
    assert by_name["bob"]["errors"] == 0


def test_cli_report_json_and_figure(tmp_path, capsys):
    sess = make_session(tmp_path, answers={"carol": lambda src, pos: "real" if src == "fake" else "fake"})
    fig = tmp_path / "raters.png"
    with pytest.raises(SystemExit) as ex:
        main(["hype", "report", str(sess), "--json", "--figure", str(fig), "--bootstrap", "200"])
    assert ex.value.code == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["hype_inf"] == 1.0 and rep["hype_inf_ci"] == [1.0, 1.0]
    with Image.open(fig) as im:
        assert im.format == "PNG" and im.size[0] > 300


def test_cli_report_text(tmp_path, capsys):
    sess = make_session(tmp_path, answers={"dan": lambda src, pos: src})
    with pytest.raises(SystemExit) as ex:
        main(["hype", "report", str(sess), "--bootstrap", "100"])
    assert ex.value.code == 0
    out = capsys.readouterr().out
    assert "HYPE-infinity" in out and "0.0%" in out and "dan" in out


def test_cli_report_time_mode(tmp_path, capsys):
    sess = make_session(tmp_path, time_mode=True, answers={"eve": lambda src, pos: src})
    with pytest.raises(SystemExit) as ex:
        main(["hype", "report", str(sess), "--json", "--bootstrap", "100"])
    assert ex.value.code == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["mode"] == "time" and "hype_inf" not in rep
    assert rep["error_rate"] == 0.0 and rep["hype_time_ms"] == 500.0


@pytest.mark.parametrize(
    "setup, extra, message",
    [
        ("missing", [], "no HYPE session here"),
        ("empty", [], "no judgments"),
        ("ok", ["--bootstrap", "0"], "--bootstrap must be an integer >= 1"),
        ("ok", ["--seed", "-3"], "seed must be an integer >= 0"),
        ("ok", ["--figure", "{tmp}/no/such/folder/x.png"], "cannot write the figure"),
        ("ok", ["--figure", "{tmp}/x.unknownformat"], "cannot write the figure"),
    ],
)
def test_cli_report_bad_input(tmp_path, capsys, setup, extra, message):
    extra = [a.format(tmp=tmp_path) for a in extra]
    if setup == "missing":
        sess = tmp_path / "nothing"
    else:
        sess = make_session(tmp_path, answers={} if setup == "empty" else {"f": lambda s, p: s})
    with pytest.raises(SystemExit) as ex:
        main(["hype", "report", str(sess), *extra])
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
