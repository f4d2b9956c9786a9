"""What whole shares could not do in one run: legs they could not hold, and shorts a split left fractional.

A leg cannot be held in whole shares on a rebalance when its target is under one share, or when rounding
it to whole shares misses its weight by more than half the drift band (so the band fires on rounding
alone). On split-adjusted history that is the mark of a fund that reverse-split since: its early
"prices" are far above what it traded at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from bot.research.backtest.arrays import BoolArray, FloatArray, IntArray
from bot.research.backtest.astraded import AsTraded
from bot.research.backtest.kernel import KernelResult
from bot.research.backtest.market import PricedMarket

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


@dataclass(frozen=True, slots=True)
class FractionalShort:
    """A short a split left with a fraction of a share, and the session a rebalance made it whole."""

    symbol: str
    split_on: str
    shares: float
    rounded_on: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Rebalances:
    """The sessions to check and what the book was sized with there, rows aligned: (D,) and (D, N); weights may
    be one row (N,) that holds at every session."""

    days: IntArray
    weights: FloatArray
    prices: FloatArray
    equity: FloatArray


@dataclass(frozen=True, slots=True)
class ShareChecks:
    """Both checks of one run."""

    legs: tuple[UnholdableLeg, ...]
    shorts: tuple[FractionalShort, ...]

    def facts(self) -> dict[str, object]:
        """metrics.json's entries."""
        return {"unholdable_legs": [asdict(leg) for leg in self.legs],
                "fractional_shorts": [asdict(short) for short in self.shorts]}

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(leg.message for leg in self.legs)

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(short.message for short in self.shorts)


def rebalances_of(priced: PricedMarket, targets: FloatArray, due: BoolArray, out: KernelResult) -> Rebalances:
    """The sessions a single run rebalanced or was due to, with the weights, prices and equity it had there."""
    checked = due.copy()
    for batch in out.trades:
        checked[batch.days] = True
    days = np.flatnonzero(checked)
    weights = targets[days] if targets.ndim == 2 else targets  # fixed weights: one row, broadcast by the checks
    return Rebalances(days, weights, priced.market.close[days], out.equity[0, days])


def share_checks(
    priced: PricedMarket, checked: Rebalances, shares: FloatArray, *, cash_reserve: float, leg_band: float | None,
    fractional_longs: bool,
) -> ShareChecks:
    """What whole shares could not do in a run that held `shares` at each close."""
    found = priced.as_traded
    legs = unholdable_legs(checked, priced.symbols, priced.dates, cash_reserve=cash_reserve, leg_band=leg_band,
                           fractional_longs=fractional_longs, as_traded=found is not None)
    shorts = () if found is None else fractional_shorts(shares, priced.symbols, priced.dates, found)
    return ShareChecks(legs, shorts)


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
        shares = np.abs(w * (equity * (1.0 - cash_reserve)) / p)
        cannot = shares < 1.0
        if leg_band is not None:  # rounding down to whole shares misses the weight by over half the band
            cannot |= (shares - np.floor(shares)) * p > equity * (leg_band / 2)
    cannot &= (w < 0) | ((w > 0) & (not fractional_longs))  # the legs sized in whole shares
    under_one = cannot & (shares < 1.0)
    out: list[UnholdableLeg] = []
    for j in np.flatnonzero(cannot.any(axis=0)).tolist():
        rows = np.flatnonzero(cannot[:, j])
        first, last = (dates[checked.days[rows[k]]].date().isoformat() for k in (0, -1))
        leg = UnholdableLeg(str(symbols[j]), len(rows), len(checked.days), first, last, int(under_one[rows, j].sum()),
                            float(p[rows, j].max()), "")
        out.append(replace(leg, message=_message(leg, leg_band, as_traded=as_traded)))
    return tuple(out)


def _message(leg: UnholdableLeg, leg_band: float | None, *, as_traded: bool) -> str:
    if leg.under_one_share:
        why = f"its target was under one share at {leg.under_one_share} of them"
    else:
        why = f"rounding to whole shares missed its weight by over half the {leg_band or 0:.1%} drift band"
    return (f"{leg.symbol} could not be held in whole shares at {leg.rebalances} of {leg.checked} rebalances, "
            f"{leg.first} .. {leg.last}: {why} (sized at up to ${leg.max_price:,.2f} a share); "
            f"{FIX_WITH_SIZE if as_traded else FIX_WITH_SPLITS}")


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
