"""The NYSE schedule is read from a disk cache after its first computation, and equals exchange_calendars'."""

from __future__ import annotations

from pathlib import Path

import exchange_calendars as xcals
import numpy as np
import pytest

from bot.adapters.exchange.clock import NyseSessions
from bot.adapters.history import xnys


def test_the_cached_schedule_equals_the_library_and_a_second_process_reads_it(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    xnys.xnys_schedule.cache_clear()

    first = xnys.xnys_schedule()
    xnys.xnys_schedule.cache_clear()
    again = xnys.xnys_schedule()

    assert list(tmp_path.glob("pairbot/xnys-*.npz"))
    sched = xcals.get_calendar("XNYS", start=xnys.START, end=xnys.END).schedule
    assert np.array_equal(again.days, first.days) and len(first.days) == len(sched)
    sessions = NyseSessions()
    for i in (0, 1234, len(sched) - 1):  # early closes and DST changes in between
        assert sessions.opens[i] == sched["open"].iloc[i].to_pydatetime()
        assert sessions.closes[i] == sched["close"].iloc[i].to_pydatetime()
    early = [i for i, (o, c) in enumerate(zip(sessions.opens, sessions.closes, strict=True))
             if (c - o).total_seconds() < 6.5 * 3600]
    assert early and all(sessions.closes[i] == sched["close"].iloc[i].to_pydatetime() for i in early)
    xnys.xnys_schedule.cache_clear()


def test_an_unwritable_cache_only_means_computing_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    xnys.xnys_schedule.cache_clear()

    assert len(xnys.xnys_schedule().days) > 10_000
    xnys.xnys_schedule.cache_clear()
