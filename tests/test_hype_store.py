"""HYPE sessions on disk: the SQLite store survives crashes, sessions resume, the schedule is
balanced and seeded, and the HYPE_time staircase follows its rule.

Crash tests kill a real writer process (SIGKILL) and check that every answer it reported as
committed is in the database and that the database passes SQLite's own integrity check.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from gan_eval.errors import GanEvalError
from gan_eval.hype.server import HypeApp
from gan_eval.hype.session import (
    DB_FILE,
    SCHEDULE_FILE,
    create_schedule,
    list_images,
    load_schedule,
    open_session,
    rater_order,
    staircase_exposures,
    validate_rater,
)
from gan_eval.hype.store import ConflictError, Store


def make_folders(root, n_real=6, n_fake=6):
    rng = np.random.default_rng(1)
    for src, count in (("real", n_real), ("fake", n_fake)):
        (root / src / "sub").mkdir(parents=True)
        for k in range(count):
            folder = root / src / ("sub" if k % 2 else "")
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{src}{k}.png")
    return root / "real", root / "fake"


# --- store ------------------------------------------------------------------------------------


def test_record_history_and_reopen(tmp_path):
    db = tmp_path / DB_FILE
    s = Store(db)
    assert s.rater_order("ann", [2, 0, 1]) == [2, 0, 1]
    assert s.rater_order("ann", [0, 1, 2]) == [2, 0, 1]  # a returning rater keeps their order
    s.record("ann", 0, 2, "fake", "real", 1234.5)
    s.record("ann", 1, 0, "real", "real", 800.0)
    again = Store(db)
    h = again.history("ann")
    assert [(r["position"], r["item"], r["source"], r["answer"]) for r in h] == [(0, 2, "fake", "real"), (1, 0, "real", "real")]
    assert h[0]["response_ms"] == 1234.5 and h[0]["exposure_ms"] is None
    assert again.raters() == ["ann"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_record_refuses_wrong_position_and_repeats(tmp_path):
    s = Store(tmp_path / DB_FILE)
    s.rater_order("bo", [0, 1, 2])
    s.record("bo", 0, 0, "real", "fake", 10.0)
    with pytest.raises(ConflictError, match="at trial 1, not 0"):
        s.record("bo", 0, 0, "real", "fake", 10.0)
    with pytest.raises(ConflictError, match="at trial 1, not 2"):
        s.record("bo", 2, 2, "real", "fake", 10.0)
    with pytest.raises(ConflictError, match="not stored"):
        s.record("bo", 1, 0, "real", "fake", 10.0)  # same image twice
    with pytest.raises(GanEvalError, match="must be 'real' or 'fake'"):
        s.record("bo", 1, 1, "real", "maybe", 10.0)
    assert len(s.history("bo")) == 1


def test_store_refuses_a_foreign_file(tmp_path):
    bad = tmp_path / "x.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(GanEvalError, match="not a judgments database"):
        Store(bad)
    with pytest.raises(GanEvalError, match="no judgments database"):
        Store(tmp_path / "missing.sqlite", create=False)


WRITER = textwrap.dedent(
    """
    import sys, time
    from gan_eval.hype.store import Store
    s = Store(sys.argv[1])
    s.rater_order("w", list(range(1000)))
    for k in range(1000):
        s.record("w", k, k, "fake" if k % 2 else "real", "real", float(k))
        print(k, flush=True)  # only after record() returned, i.e. after COMMIT
        time.sleep(0.002)
    """
)


def test_killed_writer_loses_no_committed_answer(tmp_path):
    db = tmp_path / DB_FILE
    Store(db)
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    reported = []
    try:
        for line in p.stdout:
            reported.append(int(line))
            if len(reported) >= 40:
                break
        p.send_signal(signal.SIGKILL)  # mid-stream: maybe inside the next transaction
    finally:
        p.wait(timeout=30)
        p.stdout.close()
    rows = Store(db).history("w")
    positions = [r["position"] for r in rows]
    assert positions == list(range(len(rows)))  # no gaps, no torn rows
    assert set(reported) <= set(positions)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # and the session goes on: the next answer lands after the stored ones
    Store(db).record("w", len(rows), len(rows), "real", "fake", 1.0)


HANGING_TRANSACTION = textwrap.dedent(
    """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO judgments VALUES ('h', 1, 1, 'real', 'fake', 1.0, NULL, 0.0)")
    print("inserted", flush=True)
    time.sleep(60)
    """
)


def test_killed_open_transaction_is_rolled_back_and_unlocks(tmp_path):
    db = tmp_path / DB_FILE
    s = Store(db)
    s.rater_order("h", [0, 1])
    s.record("h", 0, 0, "real", "real", 5.0)
    p = subprocess.Popen([sys.executable, "-c", HANGING_TRANSACTION, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "inserted"
        p.kill()
    finally:
        p.wait(timeout=30)
        p.stdout.close()
    assert [r["position"] for r in s.history("h")] == [0]
    s.record("h", 1, 1, "fake", "fake", 6.0)  # the write lock died with the process
    assert [r["position"] for r in s.history("h")] == [0, 1]


def test_connection_closed_without_commit_keeps_committed_rows(tmp_path):
    db = tmp_path / DB_FILE
    s = Store(db)
    s.rater_order("c", [0, 1, 2])
    s.record("c", 0, 0, "real", "real", 1.0)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO judgments VALUES ('c', 1, 1, 'real', 'fake', 1.0, NULL, 0.0)")
    conn.close()  # abrupt: no COMMIT
    assert len(s.history("c")) == 1


# --- session and resume -----------------------------------------------------------------------


def test_schedule_is_balanced_seeded_and_inside_the_folders(tmp_path):
    real, fake = make_folders(tmp_path)
    a = create_schedule(real, fake, n=8, seed=3)
    assert Counter(it.source for it in a.items) == {"real": 4, "fake": 4}
    assert len({(it.source, it.path) for it in a.items}) == 8
    for k in range(a.n):
        assert a.file(k).is_file() and a.file(k).is_relative_to(a.root(a.items[k].source))
    assert create_schedule(real, fake, n=8, seed=3).items == a.items
    assert any(create_schedule(real, fake, n=8, seed=s).items != a.items for s in (4, 5, 6))


def test_open_session_resumes_and_refuses_other_options(tmp_path):
    real, fake = make_folders(tmp_path)
    sess = tmp_path / "sess"
    first = open_session(sess, real, fake, n=6, seed=1)
    assert (sess / SCHEDULE_FILE).is_file()
    again = open_session(sess, real, fake)  # options left out: the stored ones
    assert again.items == first.items and again.n == 6 and again.seed == 1
    assert open_session(sess, real, fake, n=6, seed=1).items == first.items
    with pytest.raises(GanEvalError, match="was made with --n 6; got 4"):
        open_session(sess, real, fake, n=4)
    with pytest.raises(GanEvalError, match="was made with --seed 1; got 2"):
        open_session(sess, real, fake, seed=2)
    with pytest.raises(GanEvalError, match="was made with --time-mode False; got True"):
        open_session(sess, real, fake, time_mode=True)
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(GanEvalError, match="give the same folders"):
        open_session(sess, real, other)


def test_returning_rater_continues_where_they_stopped(tmp_path):
    real, fake = make_folders(tmp_path)
    sess = tmp_path / "sess"
    app = HypeApp(sess, open_session(sess, real, fake, n=6, seed=0))
    st = app.state("rita")
    for _ in range(3):
        nxt = st["next"]
        st = app.answer({"rater": "rita", "position": nxt["position"], "image": nxt["image"], "answer": "fake", "response_ms": 500})
    # "restart the server": a new app on the same folder
    app2 = HypeApp(sess, open_session(sess, real, fake))
    st2 = app2.state("rita")
    order = rater_order(6, 0, "rita")
    assert st2["done"] == 3 and st2["next"] == {"position": 3, "image": order[3], "exposure_ms": None}
    assert [r["item"] for r in app2.store.history("rita")] == order[:3]


def test_rater_orders_are_seeded_permutations():
    a = rater_order(50, 0, "alice")
    assert sorted(a) == list(range(50))
    assert a == rater_order(50, 0, "alice")
    assert a != rater_order(50, 0, "bob") and a != rater_order(50, 1, "alice")


def test_list_images_recursive_sorted_and_confined(tmp_path):
    (tmp_path / "d" / "b").mkdir(parents=True)
    (tmp_path / "d" / ".hidden").mkdir()
    img = Image.new("RGB", (4, 4))
    for rel in ("b/2.png", "a.JPG", "c.webp", ".hidden/x.png", ".dot.png"):
        img.save(tmp_path / "d" / rel, format="PNG" if rel.lower().endswith("png") else ("JPEG" if "JPG" in rel else "WEBP"))
    (tmp_path / "d" / "notes.txt").write_text("x")
    outside = tmp_path / "outside.png"
    img.save(outside)
    os.symlink(outside, tmp_path / "d" / "link.png")
    assert list_images(tmp_path / "d") == ["a.JPG", "b/2.png", "c.webp"]
    with pytest.raises(GanEvalError, match="not a folder"):
        list_images(tmp_path / "nope")


@pytest.mark.parametrize(
    "case, message",
    [
        ("odd", "--n must be an even integer >= 2"),
        ("few", "has 6 images; --n 20 needs 10"),
        ("nested", "must be separate folders"),
        ("same", "must be separate folders"),
        ("broken", "not a readable image"),
        ("seed", "seed must be an integer >= 0"),
    ],
)
def test_schedule_bad_input(tmp_path, case, message):
    real, fake = make_folders(tmp_path)
    kwargs = {"n": 4}
    if case == "odd":
        kwargs["n"] = 5
    elif case == "few":
        kwargs["n"] = 20
    elif case == "nested":
        fake = real / "sub"
    elif case == "same":
        fake = real
    elif case == "broken":
        (fake / "zz.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
        (real / "zz.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
        kwargs["n"] = 14  # 7 + 7: every file is drawn
    elif case == "seed":
        kwargs["seed"] = -1
    with pytest.raises(GanEvalError, match=message):
        create_schedule(real, fake, **kwargs)


def test_corrupt_schedule_file(tmp_path):
    (tmp_path / SCHEDULE_FILE).write_text('{"format": "something else"}')
    with pytest.raises(GanEvalError, match="corrupt schedule"):
        load_schedule(tmp_path)


@pytest.mark.parametrize("name", ["alice", "Zoë", "李雷", "a.b-c_d 2", "  padded  "])
def test_valid_rater_names(name):
    assert validate_rater(name) == name.strip()


@pytest.mark.parametrize("name", ["", "   ", "x" * 41, "<script>", "a&b", 'quo"te', "_lead", "-lead", "tab\there", "new\nline", 42])
def test_invalid_rater_names(name):
    with pytest.raises(GanEvalError, match="rater name"):
        validate_rater(name)


# --- HYPE_time staircase ----------------------------------------------------------------------


def test_staircase_rule():
    T, F = True, False
    assert staircase_exposures([]) == [500]
    assert staircase_exposures([T, T, T]) == [500, 500, 500, 490]
    assert staircase_exposures([T, T, F, T, T, T]) == [500, 500, 500, 510, 510, 510, 500]
    assert staircase_exposures([F] * 60)[-1] == 1000  # clamped at the top of the grid
    assert staircase_exposures([T] * 300)[-1] == 100  # and at the bottom
    assert staircase_exposures([T] * 300, start=100)[1:4] == [100, 100, 100]


def test_staircase_settles_at_the_levitt_point():
    """Levitt (1971): a 3-down/1-up staircase settles where P(correct)^3 = 1/2 (79.4%).
    Simulated rater: P(correct | t ms) = 0.5 + 0.5 / (1 + exp(-(t - 300) / 40)), so the
    79.4% point is t* = 300 - 40 ln(0.5 / (0.5^(1/3) - 0.5) - 1) = 314 ms. The rater answers
    trial by trial (a reference run of the rule); the function on the whole history must agree."""
    rng = np.random.default_rng(0)
    t_star = 300 - 40 * np.log(0.5 / (0.5 ** (1 / 3) - 0.5) - 1)
    correct, shown, t, streak = [], [], 500, 0
    for _ in range(6000):
        shown.append(t)
        ok = bool(rng.random() < 0.5 + 0.5 / (1 + np.exp(-(t - 300) / 40)))
        correct.append(ok)
        streak = streak + 1 if ok else 0
        if not ok:
            t = min(1000, t + 10)
        elif streak == 3:
            t, streak = max(100, t - 10), 0
    assert staircase_exposures(correct)[:-1] == shown
    assert abs(np.mean(shown[1000:]) - t_star) < 20
