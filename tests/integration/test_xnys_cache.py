"""The NYSE schedule and the synthetic walk are read from a disk cache after their first computation, equal to
what computing them gives."""

from __future__ import annotations

from pathlib import Path

import exchange_calendars as xcals
import numpy as np
import pytest

from bot.adapters.exchange.clock import NyseSessions
from bot.adapters.history import frame, xnys


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


class TestTheSyntheticWalkCache:
    """The synthetic market is read from the same cache once made; what is read is what would be made."""

    @staticmethod
    def fresh(seed: int) -> dict[str, np.ndarray]:
        frame._synthetic_path.cache_clear()
        made = frame._synthetic_path(seed)
        frame._synthetic_path.cache_clear()
        return {sym: f.to_numpy().copy() for sym, f in made.items()}

    def test_a_cached_walk_is_the_walk_bit_for_bit(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        made = self.fresh(7)
        files = list(tmp_path.glob("pairbot/synthetic-*.npy"))
        read = self.fresh(7)

        assert len(files) == 1
        assert made.keys() == read.keys()
        assert all(np.array_equal(made[s].view(np.int64), read[s].view(np.int64)) for s in made)
        expected = frame._walk(7, frame.nyse_sessions())
        assert all(np.array_equal(read[s], expected[k].T) for k, s in enumerate(frame._ORDER))

    def test_another_seed_is_another_file_and_another_walk(self, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        seven, three = self.fresh(7), self.fresh(3)

        assert len(list(tmp_path.glob("pairbot/synthetic-*.npy"))) == 2
        assert not np.array_equal(seven["IWM"], three["IWM"])

    def test_a_damaged_file_is_made_again(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        made = self.fresh(7)
        (cached,) = tmp_path.glob("pairbot/synthetic-*.npy")
        cached.write_bytes(cached.read_bytes()[:1000])

        again = self.fresh(7)

        assert all(np.array_equal(made[s], again[s]) for s in made)
        assert cached.stat().st_size > 1000

    def test_an_unwritable_cache_only_means_making_it(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        (tmp_path / "file").write_text("not a directory")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))

        assert self.fresh(7)["SPY"].shape == (len(frame.nyse_sessions()), len(frame.COLUMNS))
