"""The backtest's kernel: many variants of one book over float64 arrays, through the compiled loop.

The rebalance rule is the planner's (bot/core/plan.py) in floats: target shares
trunc(weight x equity x (1 - cash_reserve) / price); a leg is left alone when its trade is under
min_trade_usd, unless the target is zero; a small sign flip still closes the old side. The compiled
loop (loop.c through cloop.py, or loop.py's numba where no C compiler is available: backend.py) stops
where floats cannot settle a decision; this driver settles it in Decimal as the planner and
bot/core/drift.py compute it (exact.py) and resumes, so float rounding cannot change one.
Rows are variants, so a sweep runs many variants in one call. A market in as-traded prices carries its
splits (Market.splits, built by market.py from a split list); the loop converts the holdings at each one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bot.backtest import backend
from bot.backtest.arrays import BoolArray, Fill, FloatArray, IntArray
from bot.backtest.astraded import HoldingSplits
from bot.backtest.codes import NEED_BREACH, NEED_SHARES
from bot.backtest.exact import (
    FRACTIONAL_QUANTUM,
    decide_shares,
    decide_shares_one,
    exact_leg_over,
    exact_target,
    leg_breaches,
)

__all__ = [
    "FRACTIONAL_QUANTUM", "BoolArray", "Fill", "FloatArray", "IntArray", "KernelResult", "Market", "TradeBatch",
    "Variants", "decide_shares", "decide_shares_one", "exact_target", "leg_breaches", "run_kernel",
]


@dataclass(frozen=True, slots=True)
class Market:
    """Prices and carry shared by every variant: T sessions, N symbols, U underlyings."""

    close: FloatArray  # (T, N) adjusted closes: marks, decision prices and close fills
    open: FloatArray | None  # (T, N) adjusted opens, for next-open fills; None where every fill is at the close
    cash_return: FloatArray  # (T,) interest on cash earned over the day ending at session t (0 at t=0)
    accrual_days: FloatArray  # (T,) calendar days from the previous session to t (0 at t=0)
    multiples: FloatArray  # (N, U): weight x multiple, summed per underlying = effective exposure
    splits: HoldingSplits = field(default_factory=HoldingSplits)  # applied to the holdings in the loop

    def __post_init__(self) -> None:
        t, n = self.close.shape
        opens = self.close if self.open is None else self.open
        if opens.shape != (t, n) or self.cash_return.shape != (t,) or self.accrual_days.shape != (t,):
            raise ValueError("market arrays disagree in shape")
        if self.multiples.shape[0] != n:
            raise ValueError("multiples must have one row per symbol")
        if t == 0 or not np.all(self.close > 0) or (self.open is not None and not np.all(self.open > 0)):
            raise ValueError("prices must be positive and there must be at least one session")
        if self.splits.count and (self.splits.day.max() >= t or self.splits.column.max() >= n
                                  or self.splits.column.min() < 0):
            raise ValueError("a split falls outside the market's sessions or symbols")


@dataclass(frozen=True, slots=True)
class Variants:
    """Per-variant parameters, one row each (V rows). A band of inf is no band."""

    targets: FloatArray  # (S, N) fixed weights, or (S, T, N) weights per session
    target_row: IntArray  # (V,): variant v follows targets[target_row[v]]
    due: BoolArray  # (F, T) calendar-due sessions per schedule; row due_row[v] is variant v's
    due_row: IntArray  # (V,)
    leg_band: FloatArray  # (V,)
    gross_band: FloatArray
    net_band: FloatArray
    effective_band: FloatArray
    commission_bps: FloatArray
    slippage_bps: FloatArray
    borrow_bps: FloatArray  # annual, on short market value, accrued per calendar day / 360
    min_trade_usd: FloatArray
    cash_reserve: FloatArray
    starting_cash: FloatArray
    fractional_longs: BoolArray  # (V,) long targets in 1e-9 shares, as the planner's policy allows

    @property
    def count(self) -> int:
        return int(self.leg_band.shape[0])


@dataclass(slots=True)
class TradeBatch:
    """Trades: variant rows, their sessions, signed shares and fill prices."""

    rows: IntArray
    days: IntArray
    shares: FloatArray  # (k, N)
    prices: FloatArray  # (k, N) fill prices before slippage
    paid: FloatArray  # (k, N) fill prices after slippage
    commission: FloatArray  # (k,)


@dataclass(slots=True)
class KernelResult:
    equity: FloatArray  # (V, T) at each close, after that close's fills
    traded_usd: FloatArray  # (V,) sum of |shares x fill price|
    costs_usd: FloatArray  # (V,) commission + slippage
    borrow_usd: FloatArray  # (V,) borrow fees paid
    rebalances: IntArray  # (V,) decisions that traded
    decisions: IntArray  # (V,) sessions where a rebalance was due (calendar or band)
    trades: list[TradeBatch] = field(default_factory=list)


def run_kernel(market: Market, variants: Variants, *, fill: Fill = "close", record: bool = False) -> KernelResult:
    """Simulate every variant over every session; `record` keeps the trade list (for single runs)."""
    t_len, n = market.close.shape
    v = variants.count
    if fill == "next_open" and market.open is None:
        raise ValueError("next-open fills need the market's opens (build_market(..., opens=True))")
    opens = market.close if market.open is None else market.open  # the loop reads opens only for next-open fills
    f64 = np.float64
    targets = np.asarray(variants.targets, dtype=f64)
    targets = np.ascontiguousarray(targets[:, None, :] if targets.ndim == 2 else targets)
    market_args = tuple(np.ascontiguousarray(a, dtype=f64) for a in
                        (market.close, opens, market.cash_return, market.accrual_days, market.multiples))
    events = market.splits
    market_args += (np.ascontiguousarray(events.day, dtype=np.int64),
                    np.ascontiguousarray(events.column, dtype=np.int64), np.ascontiguousarray(events.ratio, dtype=f64))
    bands = np.ascontiguousarray(np.column_stack(
        [variants.leg_band, variants.gross_band, variants.net_band, variants.effective_band]), dtype=f64)
    costs = np.ascontiguousarray(np.column_stack(
        [variants.commission_bps, variants.slippage_bps, variants.borrow_bps]), dtype=f64)
    params = (
        market_args + (targets, np.asarray(variants.target_row, dtype=np.int64),
                       np.ascontiguousarray(variants.due, dtype=np.bool_), np.asarray(variants.due_row, dtype=np.int64),
                       bands, costs, np.asarray(variants.min_trade_usd, dtype=f64),
                       np.asarray(variants.cash_reserve, dtype=f64),
                       np.asarray(variants.fractional_longs, dtype=np.bool_), fill == "next_open", record)
    )
    q = np.zeros((v, n))
    cash = np.array(variants.starting_cash, dtype=f64)
    flow, start = np.zeros(v), np.zeros(v, dtype=np.int64)
    force_breach, force_q, has_force_q = np.full(v, -1, dtype=np.int8), np.zeros((v, n)), np.zeros(v, dtype=np.bool_)
    state = (q, cash, flow, start, force_breach, force_q, has_force_q)
    equity = np.empty((v, t_len))  # the loop writes every session of every row
    tallies, counts = np.zeros((v, 4)), np.zeros((v, 2), dtype=np.int64)
    need, need_equity = np.zeros(v, dtype=np.int8), np.zeros(v)
    k = t_len * v if record else 0
    trades, trade_at, n_trades = np.zeros((k, 3, n)), np.zeros((k, 3)), np.zeros(1, dtype=np.int64)
    outputs = (equity, tallies, counts, need, need_equity, trades, trade_at, n_trades)

    simulate = backend.get().simulate
    rows = np.arange(v, dtype=np.int64)
    while rows.size:
        simulate(rows, *params, *state, *outputs)
        rows = np.flatnonzero(need).astype(np.int64)
        for r in rows.tolist():
            _settle(market, variants, targets, state, r, int(need[r]), float(need_equity[r]))

    out = KernelResult(equity, tallies[:, 0].copy(), tallies[:, 1].copy(), tallies[:, 2].copy(),
                       counts[:, 0].astype(np.intp), counts[:, 1].astype(np.intp))
    if record and n_trades[0]:
        m = int(n_trades[0])
        out.trades.append(TradeBatch(trade_at[:m, 0].astype(np.intp), trade_at[:m, 1].astype(np.intp),
                                     trades[:m, 0].copy(), trades[:m, 1].copy(), trades[:m, 2].copy(),
                                     trade_at[:m, 2].copy()))
    return out


def _settle(
    market: Market, variants: Variants, targets: FloatArray, state: tuple[np.ndarray, ...], r: int, need: int,
    equity: float,
) -> None:
    """Answer in Decimal what stopped row r at its session, for the loop to resume with."""
    q, _, _, start, force_breach, force_q, has_force_q = state
    t = int(start[r])
    held, prices = q[r].tolist(), market.close[t].tolist()
    weights = targets[variants.target_row[r], t if targets.shape[1] > 1 else 0].tolist()
    if need == NEED_BREACH:
        force_breach[r] = exact_leg_over(held, prices, weights, equity, float(variants.leg_band[r]))
    elif need == NEED_SHARES:
        if not equity > 0:
            weights = [0.0] * len(weights)  # a ruined book is closed out
        force_q[r] = decide_shares_one(held, weights, equity, prices, float(variants.min_trade_usd[r]),
                                       float(variants.cash_reserve[r]),
                                       fractional_longs=bool(variants.fractional_longs[r]))
        has_force_q[r] = True
    else:
        raise AssertionError(f"unknown need {need}")
