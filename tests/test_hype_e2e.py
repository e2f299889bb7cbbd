"""End to end: headless Chromium (selenium) rates a 10-image HYPE session through the real page,
then the stored judgments and the report are checked against the answers the browser gave.

Needs Debian's `chromium` and `chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver).
Under CI (env CI=true) their absence fails the test; elsewhere it skips.
"""

import json
import os

import numpy as np
import pytest
from PIL import Image

from gan_eval.cli.main import main
from gan_eval.hype.report import session_report
from gan_eval.hype.server import make_server, server_url, serve_in_thread
from gan_eval.hype.session import rater_order

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
N = 10


def _need_browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("python package selenium")
    if missing:
        msg = (
            f"the HYPE end-to-end test needs headless Chromium; missing: {', '.join(missing)} "
            "(apt-get install -y chromium chromium-driver; pip install selenium)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM  # with the driver path below, selenium-manager is never asked
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=900,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    d.set_page_load_timeout(30)
    yield d
    d.quit()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hype_e2e")
    rng = np.random.default_rng(0)
    for src in ("real", "fake"):
        (root / src).mkdir()
        for k in range(N // 2):
            Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(root / src / f"{k}.png")
    return root


@pytest.fixture()
def session(folders, tmp_path, request):
    time_mode = getattr(request, "param", False)
    srv = make_server(tmp_path / "sess", folders / "real", folders / "fake", n=N, seed=0, time_mode=time_mode or None, port=0)
    serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()


def wait(driver, cond, timeout=15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.02).until(lambda d: cond(d))


def by_id(driver, id_):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, id_)


def start_as(driver, srv, name):
    driver.get(server_url(srv))
    box = by_id(driver, "name")
    box.clear()
    box.send_keys(name)
    by_id(driver, "start-btn").click()


def answer_trials(driver, k_from, k_to, rule):
    """Answer trials k_from..k_to-1: rule(k) -> 'real' | 'fake'; keys R/F on even k, clicks on odd."""
    from selenium.webdriver.common.action_chains import ActionChains

    for k in range(k_from, k_to):
        wait(driver, lambda d: by_id(d, "count").text == f"{k + 1} / {N}" and by_id(d, "btn-real").is_enabled())
        ans = rule(k)
        if k % 2 == 0:
            ActionChains(driver).send_keys("r" if ans == "real" else "f").perform()
        else:
            by_id(driver, "btn-real" if ans == "real" else "btn-fake").click()


def test_a_rater_completes_a_session_and_the_report_matches(driver, session, capsys):
    rule = lambda k: "real" if k % 3 == 0 else "fake"  # noqa: E731
    start_as(driver, session, "alice")
    answer_trials(driver, 0, N, rule)
    wait(driver, lambda d: by_id(d, "done").is_displayed())
    assert by_id(driver, "done-name").text == "alice"

    rows = session.app.store.history("alice")
    order = rater_order(N, 0, "alice")
    assert [r["item"] for r in rows] == order
    assert [r["answer"] for r in rows] == [rule(k) for k in range(N)]
    assert all(0 < r["response_ms"] < 60_000 for r in rows)

    sources = [session.app.schedule.items[i].source for i in order]
    errors = [rule(k) != sources[k] for k in range(N)]
    rep = session_report(session.app.session_dir, n_bootstrap=200)
    assert rep["hype_inf"] == pytest.approx(sum(errors) / N)
    fakes = [e for e, s in zip(errors, sources) if s == "fake"]
    assert rep["fake_judged_real"] == pytest.approx(sum(fakes) / len(fakes))

    with pytest.raises(SystemExit) as ex:
        main(["hype", "report", str(session.app.session_dir), "--json", "--bootstrap", "200"])
    assert ex.value.code == 0
    assert json.loads(capsys.readouterr().out)["hype_inf"] == pytest.approx(sum(errors) / N)

    start_as(driver, session, "alice")  # a finished rater who comes back sees the end page
    wait(driver, lambda d: by_id(d, "done").is_displayed())


def test_a_rater_who_closes_the_tab_resumes(driver, session):
    start_as(driver, session, "bob")
    answer_trials(driver, 0, 3, lambda k: "fake")
    wait(driver, lambda d: len(session.app.store.history("bob")) == 3)
    driver.get("about:blank")  # the tab is gone
    start_as(driver, session, "bob")
    wait(driver, lambda d: by_id(d, "count").text == f"4 / {N}")
    answer_trials(driver, 3, N, lambda k: "real")
    wait(driver, lambda d: by_id(d, "done").is_displayed())
    assert [r["answer"] for r in session.app.store.history("bob")] == ["fake"] * 3 + ["real"] * (N - 3)


def test_a_bad_name_is_refused_on_the_page(driver, session):
    start_as(driver, session, "<b>x</b>")
    wait(driver, lambda d: by_id(d, "error").is_displayed())
    assert "rater name may contain only" in by_id(driver, "error").text
    assert by_id(driver, "start").is_displayed() and session.app.store.raters() == []


@pytest.mark.parametrize("session", [True], indirect=True)
def test_time_mode_hides_the_buttons_during_exposure(driver, session):
    start_as(driver, session, "tim")
    wait(driver, lambda d: by_id(d, "rate").is_displayed())
    assert not by_id(driver, "btn-real").is_enabled()  # fixation + 500 ms exposure first
    wait(driver, lambda d: by_id(d, "btn-real").is_enabled(), timeout=10)
    tags = driver.execute_script("return [...document.getElementById('stage').children].map(e => e.tagName)")
    assert tags == ["CANVAS"]  # the noise mask replaced the image
    answer_trials(driver, 0, 3, lambda k: session.app.schedule.items[rater_order(N, 0, "tim")[k]].source)
    wait(driver, lambda d: len(session.app.store.history("tim")) == 3)
    assert [r["exposure_ms"] for r in session.app.store.history("tim")] == [500, 500, 500]
    assert session.app.state("tim")["next"]["exposure_ms"] == 490
