"""A HYPE session: the seeded, balanced schedule of images, the rater order, the staircase.

The schedule draws n/2 real and n/2 fake images (without replacement, seeded) from two folders
and shuffles them into items 0..n-1, so an item's number says nothing about its class. It is
written to ``schedule.json`` in the session directory; a restarted server reads it back and
serves the same images.

Every rater judges the same n images, each in their own order: a permutation seeded by the
session seed and the rater's name. The common image set keeps raters and images crossed (what
the bootstrap in :mod:`.report` resamples); the per-rater order keeps order effects (fatigue,
learning) from landing on the same images for everyone. The order is a function of the name, so
a returning rater gets the same order and continues where they stopped.
"""

import datetime
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import defaults
from ..atomic import write_atomic_text
from ..errors import GanEvalError

SCHEDULE_FILE = "schedule.json"
DB_FILE = "judgments.sqlite"
SOURCES = ("real", "fake")
ANSWERS = ("real", "fake")
_FORMAT = "gan-eval-hype-schedule"
_VERSION = 1
NAME_MAX = 40
# letters/digits (any script), then also space, underscore, dot, hyphen; no markup characters
_NAME_RE = re.compile(r"[^\W_][\w .\-]*")


def image_extensions():
    """File suffixes (lower case, with dot) that Pillow can open."""
    from PIL import Image

    return {ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


def list_images(folder):
    """Image files under `folder`, recursively, as sorted POSIX paths relative to it.

    Hidden files and folders are skipped, and so is any file whose real path (after symlinks)
    lies outside the folder, so the server can never be led out of the folders it was given.
    """
    root = Path(folder)
    if not root.is_dir():
        raise GanEvalError(f"{folder}: not a folder")
    real_root = root.resolve()
    exts = image_extensions()
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in exts:
                continue
            path = Path(dirpath, name)
            if not path.resolve().is_relative_to(real_root):
                continue
            found.append(path.relative_to(root).as_posix())
    return sorted(found)


def validate_rater(name):
    """Return the rater name stripped of outer spaces, or raise GanEvalError.

    1 to 40 characters: letters or digits of any script, then also space, ``_``, ``.``, ``-``.
    """
    if not isinstance(name, str):
        raise GanEvalError("rater name must be text")
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise GanEvalError(f"rater name must have 1 to {NAME_MAX} characters")
    if not _NAME_RE.fullmatch(name):
        raise GanEvalError(
            "rater name may contain only letters, digits, spaces, '_', '.' and '-', and must start with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Item:
    source: str  # "real" or "fake"
    path: str  # POSIX path relative to the folder of its source


@dataclass(frozen=True)
class Schedule:
    real_root: Path
    fake_root: Path
    items: tuple
    seed: int
    time_mode: bool

    @property
    def n(self):
        return len(self.items)

    def root(self, source):
        return self.real_root if source == "real" else self.fake_root

    def file(self, index):
        """The image file of item `index`, checked to lie inside its folder."""
        item = self.items[index]
        root = self.root(item.source).resolve()
        path = (root / item.path).resolve()
        if not path.is_relative_to(root):
            raise GanEvalError(f"schedule item {index} points outside {root}")
        return path

    def to_json(self):
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "seed": self.seed,
            "n": self.n,
            "time_mode": self.time_mode,
            "real": str(self.real_root),
            "fake": str(self.fake_root),
            "items": [[it.source, it.path] for it in self.items],
        }

    @classmethod
    def from_json(cls, data, where="schedule"):
        try:
            if data.get("format") != _FORMAT or data.get("version") != _VERSION:
                raise ValueError("not a gan-eval HYPE schedule (version 1)")
            items = tuple(Item(str(s), str(p)) for s, p in data["items"])
            if any(it.source not in SOURCES for it in items) or len(items) != data["n"]:
                raise ValueError("bad items")
            seed, time_mode = data["seed"], data["time_mode"]
            if not isinstance(seed, int) or not isinstance(time_mode, bool):
                raise ValueError("bad seed or time_mode")
            return cls(Path(data["real"]), Path(data["fake"]), items, seed, time_mode)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise GanEvalError(f"{where}: corrupt schedule ({e})") from None


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2 or n % 2:
        raise GanEvalError(f"--n must be an even integer >= 2 (half real, half fake), got {n!r}")
    return int(n)


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GanEvalError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _check_folders(real, fake):
    real_r, fake_r = Path(real).resolve(), Path(fake).resolve()
    for name, p in (("REAL", real), ("FAKE", fake)):
        if not Path(p).is_dir():
            raise GanEvalError(f"{name} {p}: not a folder")
    if real_r.is_relative_to(fake_r) or fake_r.is_relative_to(real_r):
        raise GanEvalError(f"REAL ({real}) and FAKE ({fake}) must be separate folders, neither inside the other")
    return real_r, fake_r


def _check_opens(path):
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
    except Exception as e:  # Pillow raises many types for a bad file
        raise GanEvalError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None


def create_schedule(real, fake, n=defaults.HYPE_N, seed=defaults.SEED, time_mode=False):
    """Draw n/2 real and n/2 fake images (seeded, without replacement) and shuffle them.

    Raises GanEvalError when a folder has fewer than n/2 images or a drawn file does not open.
    """
    n, seed = _check_n(n), _check_seed(seed)
    real_root, fake_root = _check_folders(real, fake)
    rng = np.random.default_rng(seed)
    items = []
    for source, folder in (("real", real_root), ("fake", fake_root)):
        files = list_images(folder)
        if len(files) < n // 2:
            raise GanEvalError(f"{source} folder {folder} has {len(files)} images; --n {n} needs {n // 2}")
        picks = np.sort(rng.choice(len(files), size=n // 2, replace=False))
        items += [Item(source, files[i]) for i in picks]
    items = tuple(items[i] for i in rng.permutation(n))
    schedule = Schedule(real_root, fake_root, items, seed, bool(time_mode))
    for i in range(n):
        _check_opens(schedule.file(i))
    return schedule


def load_schedule(session_dir):
    path = Path(session_dir) / SCHEDULE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GanEvalError(f"{session_dir}: no HYPE session here ({SCHEDULE_FILE} missing)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GanEvalError(f"{path}: cannot read the schedule ({e})") from None
    if not isinstance(data, dict):
        raise GanEvalError(f"{path}: corrupt schedule")
    return Schedule.from_json(data, where=str(path))


def save_schedule(schedule, session_dir):
    """Write schedule.json atomically (a crash leaves the old file or the new one, never half)."""
    path = Path(session_dir) / SCHEDULE_FILE
    data = schedule.to_json()
    items = data.pop("items")
    head = json.dumps(data, indent=1)[:-2]  # without the closing "\n}"
    text = head + ',\n "items": [\n' + ",\n".join("  " + json.dumps(it) for it in items) + "\n ]\n}\n"
    try:
        write_atomic_text(path, text)
    except OSError as e:
        raise GanEvalError(f"{path}: cannot write the schedule ({e.strerror or e})") from None


def open_session(session_dir, real, fake, n=None, seed=None, time_mode=None):
    """Create a session in `session_dir`, or resume the one already there.

    On resume the stored schedule wins; an option given explicitly (not None) that differs from
    it, or other REAL/FAKE folders, raise GanEvalError rather than mixing two sessions' answers.
    """
    session_dir = Path(session_dir)
    if (session_dir / SCHEDULE_FILE).exists():
        s = load_schedule(session_dir)
        real_r, fake_r = _check_folders(real, fake)
        if (real_r, fake_r) != (s.real_root, s.fake_root):
            raise GanEvalError(
                f"session {session_dir} was made with REAL={s.real_root} FAKE={s.fake_root}; "
                "give the same folders or use a new --session"
            )
        for name, given, stored in (("--n", n, s.n), ("--seed", seed, s.seed), ("--time-mode", time_mode, s.time_mode)):
            if given is not None and given != stored:
                raise GanEvalError(
                    f"session {session_dir} was made with {name} {stored}; got {given}. "
                    "Leave the option out to resume, or use a new --session"
                )
        for i in range(s.n):
            if not s.file(i).is_file():
                raise GanEvalError(f"session {session_dir}: image {s.file(i)} is gone")
        return s
    s = create_schedule(
        real,
        fake,
        defaults.HYPE_N if n is None else n,
        defaults.SEED if seed is None else seed,
        bool(time_mode),
    )
    created = not session_dir.exists()
    try:
        session_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanEvalError(f"{session_dir}: cannot create the session folder ({e.strerror or e})") from None
    try:
        save_schedule(s, session_dir)
    except GanEvalError:
        if created:  # leave nothing behind: no half-made session to resume later
            try:
                session_dir.rmdir()
            except OSError:
                pass
        raise
    return s


def rater_order(n, seed, rater):
    """The rater's permutation of items 0..n-1, seeded by (session seed, SHA-256 of the name)."""
    key = int.from_bytes(hashlib.sha256(rater.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([int(seed), key]).permutation(int(n)).tolist()


def staircase_exposures(
    correct,
    start=defaults.HYPE_TIME_START_MS,
    step=defaults.HYPE_TIME_STEP_MS,
    low=defaults.HYPE_TIME_MIN_MS,
    high=defaults.HYPE_TIME_MAX_MS,
    down_after=defaults.HYPE_TIME_DOWN_AFTER,
):
    """Exposure times (ms) of an adaptive staircase: one per trial, plus the next trial's.

    HYPE_time (Zhou et al. 2019) shows each image for a limited time that adapts to the rater:
    shorter after correct answers, longer after a wrong one, on a grid from 100 ms to 1000 ms.
    We use the transformed up-down rule of Levitt (1971): `down_after` (3) correct answers in a
    row shorten the exposure by `step` (10 ms), any wrong answer lengthens it by `step` and
    restarts the count. A 3-down/1-up staircase settles where P(correct) = 0.5^(1/3) = 79.4%.

    `correct`: sequence of booleans, the rater's answers in trial order.
    Returns a list of len(correct) + 1 exposures, each in [low, high].
    """
    exposure, streak, out = int(start), 0, [int(start)]
    for ok in correct:
        if ok:
            streak += 1
            if streak == down_after:
                exposure, streak = max(low, exposure - step), 0
        else:
            exposure, streak = min(high, exposure + step), 0
        out.append(exposure)
    return out
