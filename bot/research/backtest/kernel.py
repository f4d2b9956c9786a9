"""The backtest's kernel: many variants of one book over float64 arrays, through the compiled loop.

The rebalance rule is the planner's (bot/core/plan.py) in floats: target shares
trunc(weight x equity x (1 - cash_reserve) / price); a leg is left alone when its trade is under
min_trade_usd, unless the target is zero; a small sign flip still closes the old side. The loop (loop.c
through cloop.py, or the same algorithm in Python, pyloop.py, where no C compiler is available:
backend.py) stops where floats cannot settle a decision; this driver settles it in Decimal as the
planner and bot/core/drift.py compute it (exact.py) and resumes, so float rounding cannot change one.
Rows are variants, so a sweep runs many variants in one call. A market in as-traded prices carries its
splits (Market.splits, built by market.py from a split list); the loop converts the holdings at each one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bot.research.backtest import backend, codes
from bot.research.backtest.arrays import BoolArray, FillAt, FloatArray, IntArray
from bot.research.backtest.astraded import HoldingSplits
from bot.research.backtest.exact import (
    FRACTIONAL_QUANTUM,
    decide_shares,
    decide_shares_one,
    exact_band_breach,
    exact_target,
    leg_breaches,
)
from bot.research.backtest.loopargs import LoopArgs

__all__ = [
    "FRACTIONAL_QUANTUM", "BoolArray", "FillAt", "FloatArray", "IntArray", "KernelResult", "Market", "TradeBatch",
    "Variants", "decide_shares", "decide_shares_one", "exact_target", "leg_breaches", "run_kernel", "run_rows",
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

    def params(self) -> FloatArray:
        """The loop's parameter rows (V, P_LEN), in codes.py's P_* order."""
        columns = (self.leg_band, self.gross_band, self.net_band, self.effective_band, self.commission_bps,
                   self.slippage_bps, self.borrow_bps, self.min_trade_usd, self.cash_reserve, self.fractional_longs,
                   self.target_row, self.due_row)
        out = np.empty((self.count, codes.P_LEN))
        for k, column in enumerate(columns):
            out[:, k] = column
        return out


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
    curves: FloatArray | None = None  # (V, C_LEN) each equity curve's statistics (codes.py C_*), from the loop
    held: FloatArray | None = None  # (V, T, N) shares at each close, when recorded
    exposure: FloatArray | None = None  # (V, 2, T) gross and net at each close, fractions of equity, when recorded


def run_kernel(
    market: Market, variants: Variants, *, fill: FillAt = "close", record: bool = False, stats: bool = True
) -> KernelResult:
    """Simulate every variant over every session; `record` keeps the trade list, shares and exposure (for single
    runs); `stats` has the loop measure each curve as it finishes it (KernelResult.curves)."""
    return run_rows(market, variants.targets, variants.due, variants.params(), variants.starting_cash, fill=fill,
                    record=record, stats=stats)


def run_rows(
    market: Market, targets: FloatArray, due: BoolArray, params: FloatArray, starting_cash: FloatArray, *,
    fill: FillAt = "close", record: bool = False, stats: bool = True, equity: FloatArray | None = None,
) -> KernelResult:
    """run_kernel on variants given as the loop's parameter rows (V, P_LEN) and their starting cash: a sweep
    builds its variants as these arrays, never as objects. `equity` (V, T) may be a buffer to reuse."""
    if fill == "next_open" and market.open is None:
        raise ValueError("next-open fills need the market's opens (build_market(..., opens=True))")
    args = loop_args(market, targets, due, params, starting_cash, next_open=fill == "next_open", record=record,
                     stats=stats, equity=equity)
    run = backend.get().runner(args)
    rows = np.arange(params.shape[0], dtype=np.int64)
    state = args.state
    while rows.size:
        run(rows)
        rows = np.flatnonzero(state[:, codes.S_NEED]).astype(np.int64)
        for r in rows.tolist():
            _settle(market, args.targets, params[r], state[r])
    return _kernel_result(args)


def loop_args(
    market: Market, targets: FloatArray, due: BoolArray, params: FloatArray, starting_cash: FloatArray, *,
    next_open: bool, record: bool, stats: bool, equity: FloatArray | None = None,
) -> LoopArgs:
    """The loop's arguments: the market's arrays as they are (already float64 and C-contiguous from
    build_market), the variants' rows, a fresh state and outputs."""
    t_len, n = market.close.shape
    v = params.shape[0]
    targets = _contiguous(targets)
    if targets.ndim == 2:
        targets = np.ascontiguousarray(targets[:, None, :])
    splits = market.splits
    state = np.zeros((v, codes.S_LEN + 2 * n))
    state[:, codes.S_CASH] = starting_cash
    state[:, codes.S_FORCE_BREACH] = -1.0
    k = t_len * v if record else 0
    return LoopArgs(
        close=_contiguous(market.close), opens=_contiguous(market.close if market.open is None else market.open),
        cash_return=_contiguous(market.cash_return), accrual_days=_contiguous(market.accrual_days),
        multiples=_contiguous(market.multiples), split_day=_contiguous(splits.day, np.int64),
        split_col=_contiguous(splits.column, np.int64), split_ratio=_contiguous(splits.ratio), targets=targets,
        due=_contiguous(due, np.bool_), params=_contiguous(params), state=state,
        equity=np.empty((v, t_len)) if equity is None else equity,
        summary=np.zeros((v, codes.M_LEN)), n_trades=np.zeros(1, dtype=np.int64), next_open=next_open, record=record,
        stats=stats, trades=np.empty((k, codes.R_LEN + 3 * n)) if record else None,
        held=np.empty((v, t_len, n)) if record else None, exposure=np.empty((v, 2, t_len)) if record else None,
    )


def _contiguous(a: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    return a if a.dtype == dtype and a.flags.c_contiguous else np.ascontiguousarray(a, dtype=dtype)


def _kernel_result(args: LoopArgs) -> KernelResult:
    sm = args.summary
    out = KernelResult(args.equity, sm[:, codes.M_TRADED].copy(), sm[:, codes.M_COSTS].copy(),
                       sm[:, codes.M_BORROW].copy(), sm[:, codes.M_REBALANCES].astype(np.intp),
                       sm[:, codes.M_DECISIONS].astype(np.intp), curves=sm[:, codes.M_CURVE :] if args.stats else None,
                       held=args.held, exposure=args.exposure)
    m = int(args.n_trades[0])
    if args.trades is not None and m:
        n = args.close.shape[1]
        rec, at = args.trades[:m], codes.R_LEN
        out.trades.append(TradeBatch(rec[:, codes.R_ROW].astype(np.intp), rec[:, codes.R_DAY].astype(np.intp),
                                     rec[:, at : at + n], rec[:, at + n : at + 2 * n], rec[:, at + 2 * n :],
                                     rec[:, codes.R_COMMISSION]))
    return out


def _settle(market: Market, targets: FloatArray, params: FloatArray, state: FloatArray) -> None:
    """Answer in Decimal what stopped a row at its session (its parameter and state rows), for the loop to resume."""
    n = market.close.shape[1]
    t, need, equity = int(state[codes.S_START]), int(state[codes.S_NEED]), float(state[codes.S_NEED_EQUITY])
    held, prices = state[codes.S_LEN : codes.S_LEN + n].tolist(), market.close[t].tolist()
    weights = targets[int(params[codes.P_TARGET_ROW]), t if targets.shape[1] > 1 else 0].tolist()
    if need == codes.NEED_BREACH:
        bands = (float(params[codes.P_GROSS]), float(params[codes.P_NET]), float(params[codes.P_EFFECTIVE]))
        state[codes.S_FORCE_BREACH] = exact_band_breach(held, prices, weights, equity, float(params[codes.P_LEG]),
                                                        bands, market.multiples.tolist())
    elif need == codes.NEED_SHARES:
        if not equity > 0:
            weights = [0.0] * len(weights)  # a ruined book is closed out
        state[codes.S_LEN + n :] = decide_shares_one(
            held, weights, equity, prices, float(params[codes.P_MIN_TRADE]), float(params[codes.P_RESERVE]),
            fractional_longs=bool(params[codes.P_FRACTIONAL]))
        state[codes.S_HAS_FORCE_Q] = 1.0
    else:
        raise AssertionError(f"unknown need {need}")
