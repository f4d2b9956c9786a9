"""As-traded prices from split-adjusted ones, and the splits a backtest applies to its holdings.

Yahoo-style history applies every later split to the whole past, so a fund that reverse-split often
"costs" millions a share early on. With the fund's splits known, the as-traded price on a session is
the split-adjusted price times the product of the ratios of the splits after it (bot/core/corporate.py
`split_factor`), and whole shares are whole shares as they traded. Dividends stay in the total-return
(adj_close) prices: the factor scales them alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd

from bot.core.corporate import Split
from bot.core.domain import ONE, Symbol
from bot.research.backtest.arrays import FloatArray, IntArray
from bot.research.backtest.codes import SPLIT_STEPS

PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close")


def _no_days() -> IntArray:
    return np.zeros(0, dtype=np.intp)


def _no_ratios() -> FloatArray:
    return np.zeros(0, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class HoldingSplits:
    """Splits as the loop applies them: holdings of column `column[e]` are multiplied by `ratio[e]` as they
    enter session `day[e]` (its first session at the new quantity), sorted by day then column."""

    day: IntArray = field(default_factory=_no_days)
    column: IntArray = field(default_factory=_no_days)
    ratio: FloatArray = field(default_factory=_no_ratios)

    def __post_init__(self) -> None:
        if not self.day.shape == self.column.shape == self.ratio.shape or self.day.ndim != 1:
            raise ValueError("split arrays disagree in shape")
        if self.day.size and (self.day.min() < 1 or not np.all(np.diff(self.day) >= 0)):
            raise ValueError("split days must be sorted sessions after the first")
        if self.ratio.size and not np.all(self.ratio > 0):
            raise ValueError("split ratios must be positive")

    @property
    def count(self) -> int:
        return int(self.day.shape[0])


@dataclass(frozen=True, slots=True)
class AsTraded:
    """Per-session split factors of each symbol, and the splits inside the sessions."""

    factors: FloatArray  # (T, N): as-traded price = split-adjusted price x factor
    holding_splits: HoldingSplits
    applied: tuple[Split, ...]  # the splits behind holding_splits, in the same order


def as_traded(dates: pd.DatetimeIndex, symbols: Sequence[Symbol], splits: Iterable[Split]) -> AsTraded:
    """The factors and in-range splits of `symbols` over `dates` (sessions, ascending)."""
    by_symbol: dict[Symbol, list[Split]] = {s: [] for s in symbols}
    for s in splits:
        if s.symbol in by_symbol:
            by_symbol[s.symbol].append(s)
    factors = np.ones((len(dates), len(symbols)))
    events: list[tuple[int, int, Split]] = []
    for j, sym in enumerate(symbols):
        own = sorted(by_symbol[sym], key=lambda s: s.on)
        if not own:
            continue
        at = first_sessions(dates, [s.on for s in own])
        factors[:, j] = _column_factors(len(dates), at, [s.ratio for s in own])
        events += [(int(d), j, s) for d, s in zip(at, own, strict=True) if 0 < d < len(dates)]
    events.sort(key=lambda e: (e[0], e[1]))
    holding = HoldingSplits(
        np.array([e[0] for e in events], dtype=np.intp),
        np.array([e[1] for e in events], dtype=np.intp),
        np.array([float(e[2].ratio) for e in events], dtype=np.float64),
    )
    return AsTraded(factors, holding, tuple(e[2] for e in events))


def first_sessions(dates: pd.DatetimeIndex, days: Sequence[date]) -> IntArray:
    """The position of the first session on or after each day (len(dates) when none is)."""
    if isinstance(dates.dtype, np.dtype):  # tz-naive: numpy searches the stamps (pandas' parsing costs more)
        stamps = np.array(days, dtype="datetime64[D]").astype(dates.dtype)
        return np.asarray(np.searchsorted(dates.values, stamps, side="left"), dtype=np.intp)
    tz = getattr(dates, "tz", None)
    return np.asarray(dates.searchsorted([pd.Timestamp(d, tz=tz) for d in days], side="left"), dtype=np.intp)


def _column_factors(sessions: int, first_session_at: np.ndarray, ratios: Sequence[Decimal]) -> FloatArray:
    """Sessions before a split's first session carry its ratio: the suffix products, exact in Decimal."""
    out = np.empty(sessions)
    suffix = [ONE] * (len(ratios) + 1)
    for k in range(len(ratios) - 1, -1, -1):
        suffix[k] = suffix[k + 1] * ratios[k]
    bounds = [0, *(min(max(int(a), 0), sessions) for a in first_session_at), sessions]
    for k in range(len(ratios) + 1):
        out[bounds[k] : max(bounds[k], bounds[k + 1])] = float(suffix[k])
    return out


def as_traded_frames(frames: Mapping[str, pd.DataFrame], splits: Iterable[Split]) -> dict[str, pd.DataFrame]:
    """Each frame's prices as traded (times the factor) and its volume in as-traded shares (divided by it),
    by the same float products the backtest uses: what a replayed exchange should quote."""
    chosen = tuple(splits)
    out: dict[str, pd.DataFrame] = {}
    for sym, frame in frames.items():
        index = pd.DatetimeIndex(frame.index)
        factor = as_traded(index, [Symbol(sym)], chosen).factors[:, 0]
        copy = frame.copy()
        for col in (c for c in PRICE_COLUMNS if c in copy.columns):
            copy[col] = copy[col].to_numpy(np.float64) * factor
        if "volume" in copy.columns:
            copy["volume"] = copy["volume"].to_numpy(np.float64) / factor
        out[sym] = copy
    return out


def split_doc(split: Split) -> dict[str, str]:
    """One split as metrics.json lists it."""
    return {"symbol": str(split.symbol), "on": split.on.isoformat(), "ratio": str(split.ratio),
            "kind": split.describe()}


def splits_per_symbol(symbols: Sequence[Symbol], applied: Iterable[Split]) -> dict[str, int]:
    """How many splits the backtest applied to each symbol's holdings (0 for those without)."""
    counts = dict.fromkeys(map(str, symbols), 0)
    for s in applied:
        counts[str(s.symbol)] += 1
    return counts


def split_shares(shares: float, ratio: float) -> float:
    """A holding after a split, kept to 9 decimals: the loop's arithmetic (loop.c, pyloop.py)."""
    return float(np.rint(shares * ratio * SPLIT_STEPS) / SPLIT_STEPS)
