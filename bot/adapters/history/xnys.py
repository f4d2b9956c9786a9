"""NYSE sessions (open and close, early closes included) from exchange_calendars, cached on disk.

Building the XNYS calendar for 2000-2040 costs about half a second (and importing the library more) in
every process that needs it: every local-mode command and test. The schedule depends only on the library's
version, so it is computed once and kept in the user's cache directory (XDG_CACHE_HOME, else ~/.cache);
an unwritable cache only means computing it each time.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import BinaryIO

import numpy as np

START, END = "2000-01-01", "2040-12-31"


@dataclass(frozen=True, slots=True)
class Schedule:
    """Session days (datetime64[D]) with their open and close as UTC nanoseconds (int64)."""

    days: np.ndarray
    opens: np.ndarray
    closes: np.ndarray


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pairbot"


@lru_cache(maxsize=1)
def xnys_schedule() -> Schedule:
    path = cache_dir() / f"xnys-{version('exchange_calendars')}-{START}-{END}.npz"
    try:
        with np.load(path) as saved:
            return Schedule(saved["days"], saved["opens"], saved["closes"])
    except (OSError, KeyError, ValueError):
        pass
    schedule = _compute()
    _save(path, schedule)
    return schedule


def _compute() -> Schedule:
    import exchange_calendars as xcals

    sched = xcals.get_calendar("XNYS", start=START, end=END).schedule
    days = np.array([ts.date() for ts in sched.index], dtype="datetime64[D]")
    opens = sched["open"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]").astype(np.int64)
    closes = sched["close"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]").astype(np.int64)
    return Schedule(days, opens, closes)


def _save(path: Path, schedule: Schedule) -> None:
    save_atomically(path, lambda f: np.savez(f, days=schedule.days, opens=schedule.opens, closes=schedule.closes))


def save_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """A cache file written whole or not at all: another process reads the old file or the whole new one.
    An unwritable cache only means computing again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        return
