"""What whole shares could not do in one run: legs they could not hold, and shorts a split left fractional.

A leg cannot be held in whole shares on a rebalance when its target is under one share, or when rounding
it to whole shares misses its weight by more than half the drift band (so the band fires on rounding
alone). On split-adjusted history that is the mark of a fund that reverse-split since: its early
"prices" are far above what it traded at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from bot.backtest.arrays import FloatArray, IntArray
from bot.backtest.astraded import AsTraded

FIX_WITH_SPLITS = ("on split-adjusted prices a fund that reverse-split since looks far dearer than it traded: "
                   "splits.csv (symbol,date,ratio) beside the prices fixes it, sizing whole shares as traded")
FIX_WITH_SIZE = "a larger account or fractional_longs (longs only) would hold it"


@dataclass(frozen=True, slots=True)
class UnholdableLeg:
    """One symbol whole shares could not hold, over the rebalances checked."""

    symbol: str
    rebalances: int  # rebalance sessions where it could not be held
    checked: int  # rebalance sessions checked
    first: str
    last: str
    under_one_share: int  # of `rebalances`, those whose target was under one share
    max_price: float  # the highest price it was sized at on those sessions
    message: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FractionalShort:
    """A short a split left with a fraction of a share, and the session a rebalance made it whole."""

    symbol: str
    split_on: str
    shares: float
    rounded_on: str | None
    message: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Rebalances:
    """The sessions to check and what the book was sized with there, rows aligned: (D,) and (D, N)."""

    days: IntArray
    weights: FloatArray
    prices: FloatArray
    equity: FloatArray


def unholdable_legs(
    checked: Rebalances,
    symbols: Sequence[str],
    dates: pd.DatetimeIndex,
    *,
    cash_reserve: float,
    leg_band: float | None,
    fractional_longs: bool,
    as_traded: bool,
) -> tuple[UnholdableLeg, ...]:
    """Each leg that whole shares could not hold on some checked rebalance, in symbol order."""
    w, p, equity = checked.weights, checked.prices, checked.equity[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):  # a ruined book has no equity to size with
        raw = w * (equity * (1.0 - cash_reserve)) / p
        shares = np.abs(raw)
        under = shares < 1.0
        if leg_band is not None:
            under |= (shares - np.floor(shares)) * p > equity * (leg_band / 2)  # rounding misses by over half a band
    whole = (w > 0) if not fractional_longs else np.zeros(w.shape, dtype=np.bool_)
    whole |= w < 0
    under_one = whole & (shares < 1.0)
    bad = whole & under
    out: list[UnholdableLeg] = []
    for j in np.flatnonzero(bad.any(axis=0)).tolist():
        rows = np.flatnonzero(bad[:, j])
        first, last = (dates[checked.days[rows[k]]].date().isoformat() for k in (0, -1))
        leg = UnholdableLeg(str(symbols[j]), len(rows), len(checked.days), first, last, int(under_one[rows, j].sum()),
                            float(p[rows, j].max()), "")
        out.append(_with_message(leg, leg_band, as_traded=as_traded))
    return tuple(out)


def _with_message(leg: UnholdableLeg, leg_band: float | None, *, as_traded: bool) -> UnholdableLeg:
    if leg.under_one_share:
        why = f"its target was under one share at {leg.under_one_share} of them"
    else:
        why = f"rounding to whole shares missed its weight by over half the {leg_band or 0:.1%} drift band"
    message = (f"{leg.symbol} could not be held in whole shares at {leg.rebalances} of {leg.checked} rebalances, "
               f"{leg.first} .. {leg.last}: {why} (sized at up to ${leg.max_price:,.2f} a share); "
               f"{FIX_WITH_SIZE if as_traded else FIX_WITH_SPLITS}")
    return UnholdableLeg(leg.symbol, leg.rebalances, leg.checked, leg.first, leg.last, leg.under_one_share,
                         leg.max_price, message)


def fractional_shorts(
    held: FloatArray, symbols: Sequence[str], dates: pd.DatetimeIndex, found: AsTraded
) -> tuple[FractionalShort, ...]:
    """The shorts each split left fractional (held: shares at each close, as traded), and when they went whole."""
    out: list[FractionalShort] = []
    events = found.holding_splits
    for e, split in enumerate(found.applied):
        d, j = int(events.day[e]), int(events.column[e])
        shares = float(held[d, j])
        if not (shares < 0 and shares != np.trunc(shares)):
            continue
        after = held[d:, j]
        whole = np.flatnonzero(after == np.trunc(after))
        rounded = dates[d + int(whole[0])].date().isoformat() if whole.size else None
        on = dates[d].date().isoformat()
        then = f"rounded to whole shares on {rounded}" if rounded else "not yet rounded by a rebalance"
        message = (f"{symbols[j]} short left at {shares:g} shares by the {split.describe()} split on {on} "
                   f"(Alpaca shorts whole shares only); {then}")
        out.append(FractionalShort(str(symbols[j]), on, shares, rounded, message))
    return tuple(out)
