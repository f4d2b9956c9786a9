"""The backtest's inner loop: many variants of one book over float64 arrays, window by window.

Between decisions a variant's shares are fixed, so its cash, equity and weights over a window of
sessions are a few array operations (cash interest and borrow fees as an anchored linear
recurrence); only the first session that breaches a band or is calendar-due needs a Python step.
Rows are variants, so a sweep of a thousand variants costs little more than one.

The rebalance rule is the planner's (bot/core/plan.py) in floats: target shares
trunc(weight x equity x (1 - cash_reserve) / price); a leg is left alone when its trade is under
min_trade_usd, unless the target is zero. Near-integer quotients are settled in Decimal exactly as
the planner computes them, so float rounding cannot move a share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]
Fill = Literal["close", "next_open"]

WINDOW = 8  # sessions advanced per vectorised step; a decision inside a window restarts it after that day
_TIE = 1e-9  # relative distance from a boundary at which a float decision is re-checked in Decimal


@dataclass(frozen=True, slots=True)
class Market:
    """Prices and carry shared by every variant: T sessions, N symbols, U underlyings."""

    close: FloatArray  # (T, N) adjusted closes: marks, decision prices and close fills
    open: FloatArray  # (T, N) adjusted opens, for next-open fills
    cash_return: FloatArray  # (T,) interest on cash earned over the day ending at session t (0 at t=0)
    accrual_days: FloatArray  # (T,) calendar days from the previous session to t (0 at t=0)
    multiples: FloatArray  # (N, U): weight x multiple, summed per underlying = effective exposure

    def __post_init__(self) -> None:
        t, n = self.close.shape
        if self.open.shape != (t, n) or self.cash_return.shape != (t,) or self.accrual_days.shape != (t,):
            raise ValueError("market arrays disagree in shape")
        if self.multiples.shape[0] != n:
            raise ValueError("multiples must have one row per symbol")
        if t == 0 or not np.all(self.close > 0) or not np.all(self.open > 0):
            raise ValueError("prices must be positive and there must be at least one session")


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

    @property
    def count(self) -> int:
        return int(self.leg_band.shape[0])


@dataclass(slots=True)
class TradeBatch:
    """The trades of one decision step: variant rows, their sessions, signed shares and fill prices."""

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
    gross_sum: FloatArray  # (V,) sum over sessions of gross exposure (for the average)
    net_sum: FloatArray
    trades: list[TradeBatch] = field(default_factory=list)


@dataclass(slots=True)
class _State:
    q: FloatArray  # (V, N) shares held
    anchor: IntArray  # (V,) first session not yet accounted
    base: FloatArray  # (V,) cash at the anchor session, after its interest and before its fee
    out: KernelResult


def run_kernel(market: Market, variants: Variants, *, fill: Fill = "close", record: bool = False) -> KernelResult:
    """Simulate every variant over every session; `record` keeps the trade list (for single runs)."""
    t_len, n = market.close.shape
    v = variants.count
    growth = np.concatenate((np.cumprod(1.0 + market.cash_return), [np.nan]))
    step = np.concatenate((1.0 + market.cash_return, [1.0]))
    out = KernelResult(
        equity=np.full((v, t_len), np.nan),
        traded_usd=np.zeros(v),
        costs_usd=np.zeros(v),
        borrow_usd=np.zeros(v),
        rebalances=np.zeros(v, dtype=np.intp),
        decisions=np.zeros(v, dtype=np.intp),
        gross_sum=np.zeros(v),
        net_sum=np.zeros(v),
    )
    st = _State(np.zeros((v, n)), np.zeros(v, dtype=np.intp), variants.starting_cash.astype(np.float64), out)
    ctx = _Context(market, variants, growth, step, fill, record)
    for lo in range(0, t_len, WINDOW):
        hi = min(lo + WINDOW, t_len) - 1
        rows = np.arange(v)
        while rows.size:
            rows = ctx.advance(st, rows, hi)
    return out


@dataclass(frozen=True, slots=True)
class _Context:
    market: Market
    variants: Variants
    growth: FloatArray  # (T+1,) cumulative cash growth; index T is a sentinel
    step: FloatArray  # (T+1,) one day's growth; index T is 1
    fill: Fill
    record: bool

    def advance(self, st: _State, rows: IntArray, hi: int) -> IntArray:
        """Account sessions anchor..hi for `rows`; act on each row's first due or breaching session.

        Returns the rows that acted and still have sessions left in the window.
        """
        m, var = self.market, self.variants
        anchor = st.anchor[rows]
        lo = int(anchor.min())
        prices = m.close[lo : hi + 1]
        q = st.q[rows]
        days = np.arange(lo, hi + 1)
        valid = days[None, :] >= anchor[:, None]
        held = prices @ q.T  # (L, k)
        short_value = prices @ np.maximum(-q, 0.0).T
        growth = self.growth[lo : hi + 1]
        fee = (var.borrow_bps[rows] * 1e-4 / 360.0)[None, :] * m.accrual_days[lo : hi + 1, None] * short_value
        fee = np.where(valid.T, fee, 0.0)
        discounted = np.cumsum(fee / growth[:, None], axis=0)
        cash = growth[:, None] * (st.base[rows] / self.growth[anchor])[None, :] - growth[:, None] * discounted
        equity = (cash + held).T  # (k, L)
        event = self._events(rows, q, prices, equity, days, lo, hi) & valid
        has = event.any(axis=1)
        first = np.where(has, event.argmax(axis=1), days.size)
        record = valid & (np.arange(days.size)[None, :] < first[:, None])
        self._book(st, rows, lo, hi, equity, record, q, prices, fee.T)
        quiet = rows[~has]
        if quiet.size:
            last = cash[-1, ~has]
            st.base[quiet] = last * self.step[hi + 1]
            st.anchor[quiet] = hi + 1
        acting = np.flatnonzero(has)
        if not acting.size:
            return acting
        act_rows, act_col = rows[acting], first[acting]
        self._rebalance(st, act_rows, act_col + lo, cash[act_col, acting], fee.T[acting, act_col])
        return act_rows[st.anchor[act_rows] <= hi]

    def _events(
        self, rows: IntArray, q: FloatArray, prices: FloatArray, equity: FloatArray, days: IntArray, lo: int, hi: int
    ) -> BoolArray:
        var = self.variants
        due = var.due[var.due_row[rows]][:, lo : hi + 1]
        legs = var.leg_band[rows]
        targets = self._targets(rows, lo, hi)  # (k, L, N) or (k, 1, N)
        inv_equity = 1.0 / equity
        value = q[:, None, :] * prices[None, :, :]  # (k, L, N)
        weights = value * inv_equity[:, :, None]
        breach = (np.abs(weights - targets) > legs[:, None, None]).any(axis=2)
        if np.isfinite(var.gross_band[rows]).any():
            t_gross = np.abs(targets).sum(axis=2)
            breach |= np.abs(np.abs(weights).sum(axis=2) - t_gross) > var.gross_band[rows, None]
        if np.isfinite(var.net_band[rows]).any():
            breach |= np.abs(weights.sum(axis=2) - targets.sum(axis=2)) > var.net_band[rows, None]
        if np.isfinite(var.effective_band[rows]).any():
            gap = np.abs((weights - targets) @ self.market.multiples).max(axis=2)
            breach |= gap > var.effective_band[rows, None]
        return due | breach | ~(equity > 0)

    def _targets(self, rows: IntArray, lo: int, hi: int) -> FloatArray:
        t, which = self.variants.targets, self.variants.target_row[rows]
        if t.ndim == 2:
            return t[which][:, None, :]
        return t[which, lo : hi + 1]

    def _book(
        self,
        st: _State,
        rows: IntArray,
        lo: int,
        hi: int,
        equity: FloatArray,
        record: BoolArray,
        q: FloatArray,
        prices: FloatArray,
        fee: FloatArray,
    ) -> None:
        out = st.out
        window = out.equity[rows, lo : hi + 1]
        out.equity[rows, lo : hi + 1] = np.where(record, equity, window)
        gross = (prices @ np.abs(q).T).T / equity
        net = (prices @ q.T).T / equity
        out.gross_sum[rows] += np.where(record, gross, 0.0).sum(axis=1)
        out.net_sum[rows] += np.where(record, net, 0.0).sum(axis=1)
        out.borrow_usd[rows] += np.where(record, fee, 0.0).sum(axis=1)

    def _rebalance(self, st: _State, rows: IntArray, days: IntArray, cash: FloatArray, fee: FloatArray) -> None:
        """Trade `rows` to target at their session `days`, given cash at that close (fee paid)."""
        m, var, out = self.market, self.variants, st.out
        prices = m.close[days]
        q = st.q[rows]
        equity = cash + (q * prices).sum(axis=1)
        weights = self._targets_at(rows, days)
        target = target_shares(weights, equity, prices, var.cash_reserve[rows])
        target[~(equity > 0)] = 0.0  # a ruined book is closed out
        delta = target - q
        delta[is_small_trade(delta, target, prices, var.min_trade_usd[rows])] = 0.0
        if self.fill == "next_open":
            tradable = days + 1 < m.close.shape[0]
            delta[~tradable] = 0.0
            fill_at = m.open[np.minimum(days + 1, m.close.shape[0] - 1)]
        else:
            fill_at = prices
        paid = fill_at * (1.0 + np.sign(delta) * (var.slippage_bps[rows] * 1e-4)[:, None])
        traded = np.abs(delta) * fill_at
        commission = traded.sum(axis=1) * var.commission_bps[rows] * 1e-4
        flow = -(delta * paid).sum(axis=1) - commission
        acted = (delta != 0).any(axis=1)
        out.decisions[rows] += 1
        out.rebalances[rows] += acted
        out.traded_usd[rows] += traded.sum(axis=1)
        out.costs_usd[rows] += commission + (delta * (paid - fill_at)).sum(axis=1)
        out.borrow_usd[rows] += fee
        new_q = q + delta
        st.q[rows] = new_q
        step = self.step[days + 1]
        if self.fill == "next_open":
            held = q
            st.base[rows] = cash * step + flow
        else:
            held = new_q
            cash = cash + flow
            st.base[rows] = cash * step
        mark = cash + (held * prices).sum(axis=1)
        out.equity[rows, days] = mark
        out.gross_sum[rows] += (np.abs(held) * prices).sum(axis=1) / mark
        out.net_sum[rows] += (held * prices).sum(axis=1) / mark
        st.anchor[rows] = days + 1
        if self.record and acted.any():
            keep = np.flatnonzero(acted)
            out.trades.append(
                TradeBatch(rows[keep], days[keep], delta[keep], fill_at[keep], paid[keep], commission[keep])
            )

    def _targets_at(self, rows: IntArray, days: IntArray) -> FloatArray:
        t, which = self.variants.targets, self.variants.target_row[rows]
        return t[which] if t.ndim == 2 else t[which, days]


def target_shares(weights: FloatArray, equity: FloatArray, prices: FloatArray, cash_reserve: FloatArray) -> FloatArray:
    """trunc(weight x equity x (1 - reserve) / price) per row and symbol, toward zero, as the planner rounds."""
    investable = equity * (1.0 - cash_reserve)
    raw = weights * investable[:, None] / prices
    shares = np.trunc(raw)
    near = (np.abs(raw - np.rint(raw)) <= _TIE * np.maximum(1.0, np.abs(raw))) & (raw != 0)
    for i, j in zip(*np.nonzero(near), strict=True):
        shares[i, j] = float(
            exact_target(float(weights[i, j]), float(equity[i]), float(prices[i, j]), float(cash_reserve[i]))
        )
    return shares


def exact_target(weight: float, equity: float, price: float, cash_reserve: float) -> Decimal:
    """The planner's own Decimal arithmetic, for quotients too close to a whole share for floats."""
    investable = _dec(equity) * (Decimal(1) - _dec(cash_reserve))
    return (_dec(weight) * investable / _dec(price)).quantize(Decimal(1), rounding=ROUND_DOWN)


def is_small_trade(delta: FloatArray, target: FloatArray, prices: FloatArray, min_trade: FloatArray) -> BoolArray:
    """Legs the planner skips: a trade under min_trade_usd, unless it closes the leg (target zero)."""
    notional = np.abs(delta) * prices
    limit = min_trade[:, None]
    small = (notional < limit) & (delta != 0) & (target != 0)
    near = (np.abs(notional - limit) <= _TIE * np.maximum(1.0, limit)) & (delta != 0) & (target != 0)
    for i, j in zip(*np.nonzero(near), strict=True):
        small[i, j] = abs(_dec(float(delta[i, j]))) * _dec(float(prices[i, j])) < _dec(float(min_trade[i]))
    return small


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))
