"""Judgments in SQLite: one row per answer, each written in its own committed transaction.

The database is ``judgments.sqlite`` in the session directory, in WAL mode with
``synchronous=FULL``: once :meth:`Store.record` returns, the answer is on disk, so a crashed
server, a killed process or a closed tab loses nothing already answered. Every call opens and
closes its own connection, so the server's threads never share one.
"""

import json
import sqlite3
import time
from contextlib import closing, contextmanager
from pathlib import Path

from ..errors import GanEvalError
from .session import ANSWERS, SOURCES

_SCHEMA = """
CREATE TABLE IF NOT EXISTS raters (
    name TEXT PRIMARY KEY,
    item_order TEXT NOT NULL,  -- JSON list: this rater's permutation of the schedule's items
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS judgments (
    rater TEXT NOT NULL REFERENCES raters(name),
    position INTEGER NOT NULL,  -- the rater's trial number, from 0
    item INTEGER NOT NULL,      -- the schedule's item number
    source TEXT NOT NULL CHECK (source IN ('real', 'fake')),
    answer TEXT NOT NULL CHECK (answer IN ('real', 'fake')),
    response_ms REAL NOT NULL,
    exposure_ms INTEGER,        -- HYPE_time exposure; NULL when the image stayed up
    created REAL NOT NULL,      -- unix time the answer was stored
    PRIMARY KEY (rater, position),
    UNIQUE (rater, item)
);
"""


class ConflictError(GanEvalError):
    """An answer for another trial than the rater's next one (a stale tab, a double click)."""


class Store:
    """The judgments of one session. `create=False` refuses to make a new database."""

    def __init__(self, path, create=True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise GanEvalError(f"{self.path}: no judgments database")
        try:
            with self._connect() as conn:
                if create:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.executescript(_SCHEMA)
                elif conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'judgments'").fetchone() is None:
                    raise sqlite3.DatabaseError("no judgments table")
        except sqlite3.OperationalError as e:  # cannot open or write: a read-only or full disk, a bad folder
            raise GanEvalError(f"{self.path}: cannot open the judgments database ({e})") from None
        except sqlite3.DatabaseError as e:
            raise GanEvalError(f"{self.path}: not a judgments database ({e})") from None

    @contextmanager
    def _connect(self):
        # isolation_level=None: no implicit transactions; we BEGIN/COMMIT ourselves.
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as conn:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            yield conn

    def rater_order(self, name, order):
        """Register `name` with `order` if new; return the stored order (a returning rater's)."""
        with self._connect() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO raters (name, item_order, created) VALUES (?, ?, ?)",
                (name, json.dumps([int(i) for i in order]), time.time()),
            )
            row = conn.execute("SELECT item_order FROM raters WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0])

    def history(self, name):
        """The rater's answers so far, in trial order: list of dicts."""
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(
                "SELECT * FROM judgments WHERE rater = ? ORDER BY position", (name,)
            ).fetchall()
        return [dict(r) for r in rows]

    def record(self, rater, position, item, source, answer, response_ms, exposure_ms=None):
        """Store one answer in its own transaction, committed before returning.

        Raises ConflictError unless `position` is the rater's next trial (answers already
        stored), so a resent or stale answer can never overwrite or skip one.
        """
        if source not in SOURCES or answer not in ANSWERS:
            raise GanEvalError(f"source and answer must be 'real' or 'fake', got {source!r}, {answer!r}")
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")  # take the write lock before reading the count
            try:
                (done,) = conn.execute("SELECT COUNT(*) FROM judgments WHERE rater = ?", (rater,)).fetchone()
                if done != position:
                    raise ConflictError(f"rater {rater!r} is at trial {done}, not {position}")
                conn.execute(
                    "INSERT INTO judgments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (rater, position, item, source, answer, float(response_ms), exposure_ms, time.time()),
                )
            except sqlite3.IntegrityError as e:
                conn.execute("ROLLBACK")
                raise ConflictError(f"rater {rater!r}: answer not stored ({e})") from None
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def judgments(self):
        """Every stored answer, ordered by rater and trial: list of dicts."""
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute("SELECT * FROM judgments ORDER BY rater, position").fetchall()
        return [dict(r) for r in rows]

    def raters(self):
        with self._connect() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM raters ORDER BY created, name")]
