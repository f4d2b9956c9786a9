"""The backtest's inner loop: many variants of one book over float64 arrays, window by window.

Between decisions a variant's shares are fixed, so its cash (interest, and borrow fees through a
cumulative per-share accrual) and its equity and weights over a window of sessions are a few array
operations; only the first session that breaches a band, or is calendar-due, needs a Python step.
Rows are variants, so a sweep runs many variants in one pass.

The rebalance rule is the planner's (bot/core/plan.py) in floats: target shares
trunc(weight x equity x (1 - cash_reserve) / price); a leg is left alone when its trade is under
min_trade_usd, unless the target is zero; a small sign flip still closes the old side. Quotients
within a hair of a whole share, and drifts within a hair of the band, are settled in Decimal as the
planner and bot/core/drift.py compute them, so float rounding cannot change a decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]
Fill = Literal["close", "next_open"]

# Sessions marked per vectorised step (windows also start at every calendar-due session); a decision
# inside a window restarts the acting rows after that day. Measured best on 25 years of daily data.
WINDOW_ONE = 64
WINDOW_MANY = 64
_TIE = 1e-9  # relative distance from a boundary at which a float decision is re-checked in Decimal
_WEIGHT_TIE = 1e-12  # the same for a weight's distance from its band
FRACTIONAL_QUANTUM = Decimal("0.000000001")  # as bot/core/plan.py: Alpaca takes 9 decimal places


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
    fractional_longs: BoolArray  # (V,) long targets in 1e-9 shares, as the planner's policy allows

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
    trades: list[TradeBatch] = field(default_factory=list)


@dataclass(slots=True)
class _State:
    """Between decisions, cash at session s >= anchor is growth[s] x (level - borrow x accrued[s] . short).

    `accrued` is the cumulative discounted borrow accrual per share of each symbol, so a window's
    cash is one matrix product, with no recurrence to run.
    """

    q: FloatArray  # (V, N) shares held
    anchor: IntArray  # (V,) first session after the last decision
    level: FloatArray  # (V,) discounted cash level (see above)
    paid_to: FloatArray  # (V, N) nominal accrual per share when borrow was last charged
    out: KernelResult


def run_kernel(market: Market, variants: Variants, *, fill: Fill = "close", record: bool = False) -> KernelResult:
    """Simulate every variant over every session; `record` keeps the trade list (for single runs)."""
    t_len, n = market.close.shape
    v = variants.count
    ctx = _Context.of(market, variants, fill, record)
    out = KernelResult(
        equity=np.full((v, t_len), np.nan),
        traded_usd=np.zeros(v),
        costs_usd=np.zeros(v),
        borrow_usd=np.zeros(v),
        rebalances=np.zeros(v, dtype=np.intp),
        decisions=np.zeros(v, dtype=np.intp),
    )
    st = _State(np.zeros((v, n)), np.zeros(v, dtype=np.intp), variants.starting_cash.astype(np.float64),
                np.zeros((v, n)), out)
    due = variants.due[variants.due_row]  # (V, T)
    starts = np.flatnonzero(variants.due.any(axis=0))
    for lo, hi in _windows(starts, t_len, WINDOW_MANY if v > 1 else WINDOW_ONE):
        now_due = np.flatnonzero(due[:, lo])
        if now_due.size:
            ctx.decide_at(st, now_due, np.full(now_due.size, lo))
        rows = np.arange(v) if st.anchor.min() <= hi else np.zeros(0, dtype=np.intp)
        while rows.size:
            rows = ctx.advance(st, rows[st.anchor[rows] <= hi], lo, hi)
    ctx.charge_borrow(st, np.arange(v), np.full(v, t_len - 1))
    return out


def _windows(starts: IntArray, t_len: int, longest: int) -> list[tuple[int, int]]:
    """Consecutive [lo, hi] spans covering every session; each calendar-due session starts one."""
    bounds = sorted(set(starts.tolist()) | set(range(0, t_len, longest)) | {0})
    cuts = [*bounds, t_len]
    spans: list[tuple[int, int]] = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        spans.extend((lo, min(lo + longest, b) - 1) for lo in range(a, b, longest))
    return spans


@dataclass(frozen=True, slots=True)
class _Context:
    market: Market
    variants: Variants
    growth: FloatArray  # (T+1,) cumulative cash growth; index T repeats T-1
    accrued: FloatArray  # (T, N) cumulative days/360 x price / growth: discounted borrow per share
    nominal: FloatArray  # (T, N) cumulative days/360 x price: borrow per share in dollars
    borrow: FloatArray  # (V,) annual borrow rate as a fraction
    fill: Fill
    record: bool
    _book_banded: BoolArray  # (V,) rows with a gross, net or effective band

    @classmethod
    def of(cls, market: Market, variants: Variants, fill: Fill, record: bool) -> _Context:
        growth = np.cumprod(1.0 + market.cash_return)
        daily = market.close * (market.accrual_days / 360.0)[:, None]
        return cls(
            market,
            variants,
            np.concatenate((growth, growth[-1:])),
            np.cumsum(daily / growth[:, None], axis=0),
            np.cumsum(daily, axis=0),
            variants.borrow_bps * 1e-4,
            fill,
            record,
            np.isfinite(variants.gross_band) | np.isfinite(variants.net_band) | np.isfinite(variants.effective_band),
        )

    def advance(self, st: _State, rows: IntArray, lo: int, hi: int) -> IntArray:
        """Mark `rows` over sessions lo..hi; trade each at its first band breach. Returns the rows that traded."""
        if not rows.size:
            return rows
        if rows.size == 1 and not self._book_banded[rows[0]]:
            return self._advance_one(st, int(rows[0]), lo, hi)
        m = self.market
        anchor = st.anchor[rows]
        start = max(lo, int(anchor.min()))
        prices = m.close[start : hi + 1]
        q = st.q[rows]
        short = np.maximum(-q, 0.0)
        growth = self.growth[start : hi + 1, None]
        cash = growth * (st.level[rows] - self.borrow[rows] * (self.accrued[start : hi + 1] @ short.T))
        equity = (cash + prices @ q.T).T  # (k, L)
        valid = np.arange(start, hi + 1)[None, :] >= anchor[:, None]
        if valid.all():
            st.out.equity[rows, start : hi + 1] = equity
        else:
            st.out.equity[rows, start : hi + 1] = np.where(valid, equity, st.out.equity[rows, start : hi + 1])
        event = self._breaches(rows, q, prices, equity, start, hi) & valid
        has = event.any(axis=1)
        acting = np.flatnonzero(has)
        if not acting.size:
            return acting
        col = event[acting].argmax(axis=1)
        act_rows = rows[acting]
        self._rebalance(st, act_rows, col + start, cash[col, acting])
        return act_rows

    def decide_at(self, st: _State, rows: IntArray, days: IntArray) -> None:
        """A calendar decision: mark `rows` at `days` in closed form, then rebalance them."""
        q = st.q[rows]
        short = np.maximum(-q, 0.0)
        cash = self.growth[days] * (st.level[rows] - self.borrow[rows] * (self.accrued[days] * short).sum(axis=1))
        self._rebalance(st, rows, days, cash)

    def charge_borrow(self, st: _State, rows: IntArray, days: IntArray) -> None:
        """Add the borrow accrued on the current shorts from their anchor through `days` to the tally."""
        short = np.maximum(-st.q[rows], 0.0)
        owed = ((self.nominal[days] - st.paid_to[rows]) * short).sum(axis=1)
        st.out.borrow_usd[rows] += self.borrow[rows] * owed
        st.paid_to[rows] = self.nominal[days]

    def _breaches(
        self, rows: IntArray, q: FloatArray, prices: FloatArray, equity: FloatArray, lo: int, hi: int
    ) -> BoolArray:
        var = self.variants
        targets = self._targets(rows, lo, hi)  # (k, L, N) or (k, 1, N)
        cols = np.flatnonzero((q != 0).any(axis=0) | (targets != 0).any(axis=(0, 1)))
        if cols.size < q.shape[1]:  # symbols no row holds or wants cannot breach
            q, prices, targets = q[:, cols], prices[:, cols], targets[:, :, cols]
        weights = q[:, None, :] * prices[None, :, :] / equity[:, :, None]
        gap = weights - targets
        breach = _over_band(gap, q, prices, targets, equity, var.leg_band[rows])
        if np.isfinite(var.gross_band[rows]).any():
            gross = np.abs(np.abs(weights).sum(axis=2) - np.abs(targets).sum(axis=2))
            breach |= gross > var.gross_band[rows, None]
        if np.isfinite(var.net_band[rows]).any():
            breach |= np.abs(gap.sum(axis=2)) > var.net_band[rows, None]
        if np.isfinite(var.effective_band[rows]).any():
            eff = np.abs(gap @ self.market.multiples[cols]).max(axis=2)
            breach |= eff > var.effective_band[rows, None]
        return breach | ~(equity > 0)

    def _targets(self, rows: IntArray, lo: int, hi: int) -> FloatArray:
        t, which = self.variants.targets, self.variants.target_row[rows]
        if t.ndim == 2:
            return t[which][:, None, :]
        return t[which, lo : hi + 1]

    def _rebalance(self, st: _State, rows: IntArray, days: IntArray, cash: FloatArray) -> None:
        """Trade `rows` to target at their session `days`, given cash at that close (borrow paid)."""
        if rows.size == 1:
            self._rebalance_one(st, int(rows[0]), int(days[0]), float(cash[0]))
            return
        m, var, out = self.market, self.variants, st.out
        self.charge_borrow(st, rows, days)
        prices = m.close[days]
        q = st.q[rows]
        equity = cash + (q * prices).sum(axis=1)
        weights = self._targets_at(rows, days)
        weights = np.where((equity > 0)[:, None], weights, 0.0)  # a ruined book is closed out
        delta = decide_shares(q, weights, equity, prices, var.min_trade_usd[rows], var.cash_reserve[rows],
                              var.fractional_longs[rows]) - q
        if self.fill == "next_open":
            delta[days + 1 >= m.close.shape[0]] = 0.0
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
        new_q = q + delta
        st.q[rows] = new_q
        if self.fill == "next_open":
            out.equity[rows, days] = equity
            level = cash / self.growth[days] + flow / self.growth[days + 1]
        else:
            cash = cash + flow
            out.equity[rows, days] = cash + (new_q * prices).sum(axis=1)
            level = cash / self.growth[days]
        short = np.maximum(-new_q, 0.0)
        st.level[rows] = level + self.borrow[rows] * (self.accrued[days] * short).sum(axis=1)
        st.anchor[rows] = days + 1
        if self.record and acted.any():
            keep = np.flatnonzero(acted)
            out.trades.append(
                TradeBatch(rows[keep], days[keep], delta[keep], fill_at[keep], paid[keep], commission[keep])
            )

    def _advance_one(self, st: _State, r: int, lo: int, hi: int) -> IntArray:
        """advance() for one row without book bands, with fewer array operations."""
        start = max(lo, int(st.anchor[r]))
        prices = self.market.close[start : hi + 1]
        q = st.q[r]
        short = np.maximum(-q, 0.0)
        span = slice(start, hi + 1)
        cash = self.growth[span] * (st.level[r] - self.borrow[r] * (self.accrued[span] @ short))
        equity = cash + prices @ q
        st.out.equity[r, span] = equity
        event = ~(equity > 0)
        band = float(self.variants.leg_band[r])
        if band != np.inf:
            which = self.variants.target_row[r]
            targets = self.variants.targets[which] if self.variants.targets.ndim == 2 else \
                self.variants.targets[which, span]
            gap = q * prices / equity[:, None] - targets
            excess = np.abs(gap) - band
            over = excess > 0
            near = (np.abs(excess) <= _WEIGHT_TIE) & (q != 0)
            if near.any():
                over = _over_band(gap[None], q[None], prices, np.broadcast_to(targets, gap.shape)[None],
                                  equity[None], np.array([band]))[0][:, None]
            event |= over.any(axis=1)
        k = int(event.argmax())
        if not event[k]:
            return np.zeros(0, dtype=np.intp)
        self._rebalance_one(st, r, start + k, float(cash[k]))
        return np.array([r], dtype=np.intp)

    def _rebalance_one(self, st: _State, r: int, day: int, cash: float) -> None:
        """_rebalance() for one row in Python floats: the same arithmetic, in the same order."""
        m, var, out = self.market, self.variants, st.out
        last = m.close.shape[0] - 1
        b = float(self.borrow[r])
        q = st.q[r].tolist()
        nominal = self.nominal[day]
        out.borrow_usd[r] += b * sum(
            max(-qj, 0.0) * (nj - pj) for qj, nj, pj in zip(q, nominal.tolist(), st.paid_to[r].tolist(), strict=True)
        )
        st.paid_to[r] = nominal
        prices = m.close[day].tolist()
        equity = cash + _dot(q, prices)
        which = var.target_row[r]
        weights = (var.targets[which] if var.targets.ndim == 2 else var.targets[which, day]).tolist()
        if not equity > 0:
            weights = [0.0] * len(weights)  # a ruined book is closed out
        new_q = decide_shares_one(q, weights, equity, prices, float(var.min_trade_usd[r]), float(var.cash_reserve[r]),
                                  fractional_longs=bool(var.fractional_longs[r]))
        delta = [t - h for t, h in zip(new_q, q, strict=True)]
        if self.fill == "next_open":
            if day + 1 > last:
                delta = [0.0] * len(delta)
                new_q = q
            fill_at = m.open[min(day + 1, last)].tolist()
        else:
            fill_at = prices
        slip = float(var.slippage_bps[r]) * 1e-4
        paid = [f * (1.0 + _sign(d) * slip) for f, d in zip(fill_at, delta, strict=True)]
        traded_each = [abs(d) * f for d, f in zip(delta, fill_at, strict=True)]
        traded = _total(traded_each)
        commission = traded * float(var.commission_bps[r]) * 1e-4
        flow = -_dot(delta, paid) - commission
        acted = any(d != 0 for d in delta)
        out.decisions[r] += 1
        out.rebalances[r] += acted
        out.traded_usd[r] += traded
        out.costs_usd[r] += commission + _total([d * (pp - f) for d, pp, f in zip(delta, paid, fill_at, strict=True)])
        st.q[r] = new_q
        if self.fill == "next_open":
            out.equity[r, day] = equity
            level = cash / self.growth[day] + flow / self.growth[day + 1]
        else:
            cash = cash + flow
            out.equity[r, day] = cash + _dot(new_q, prices)
            level = cash / self.growth[day]
        accrued = self.accrued[day].tolist()
        st.level[r] = level + b * _total([a * max(-x, 0.0) for a, x in zip(accrued, new_q, strict=True)])
        st.anchor[r] = day + 1
        if self.record and acted:
            out.trades.append(TradeBatch(np.array([r]), np.array([day]), np.array([delta]), np.array([fill_at]),
                                         np.array([paid]), np.array([commission])))

    def _targets_at(self, rows: IntArray, days: IntArray) -> FloatArray:
        t, which = self.variants.targets, self.variants.target_row[rows]
        return t[which] if t.ndim == 2 else t[which, days]


def decide_shares(
    held: FloatArray,
    weights: FloatArray,
    equity: FloatArray,
    prices: FloatArray,
    min_trade_usd: FloatArray,
    cash_reserve: FloatArray,
    fractional_longs: BoolArray | None = None,
) -> FloatArray:
    """The shares each row holds after a rebalance: the planner's targets, minus the legs it skips.

    Rows are books; columns are symbols. `plan_rebalance` makes the same decision in Decimal.
    """
    target = target_shares(weights, equity, prices, cash_reserve, fractional_longs)
    small = is_small_trade(target - held, target, prices, min_trade_usd)
    wrong_side = (held != 0) & ((held > 0) != (target > 0))  # a small flip still closes the old side
    return np.where(small, np.where(wrong_side, 0.0, held), target)


def leg_breaches(
    held: FloatArray, prices: FloatArray, targets: FloatArray, equity: FloatArray, band: FloatArray
) -> BoolArray:
    """(k, L): some leg's |shares x price / equity - target| is over the band, as drift_breaches judges it.

    held is (k, N) shares, prices (L, N), targets (k, L or 1, N), equity (k, L), band (k,).
    """
    gap = held[:, None, :] * prices[None, :, :] / equity[:, :, None] - targets
    return _over_band(gap, held, prices, targets, equity, band)


def _over_band(
    gap: FloatArray, held: FloatArray, prices: FloatArray, targets: FloatArray, equity: FloatArray, band: FloatArray
) -> BoolArray:
    """Any |gap| over the band per (row, session); gaps within a hair of it are settled in Decimal."""
    excess = np.abs(gap) - band[:, None, None]
    over = excess > 0
    # An empty leg's weight is exactly 0, so its float comparison is already exact.
    near = (np.abs(excess) <= _WEIGHT_TIE) & (held != 0)[:, None, :]
    for i, t, j in zip(*np.nonzero(near), strict=True):
        weight = _dec(float(held[i, j])) * _dec(float(prices[t, j])) / _dec(float(equity[i, t]))
        tt = t if targets.shape[1] > 1 else 0
        over[i, t, j] = abs(weight - _dec(float(targets[i, tt, j]))) > _dec(float(band[i]))
    return np.asarray(over.any(axis=2))


def target_shares(
    weights: FloatArray,
    equity: FloatArray,
    prices: FloatArray,
    cash_reserve: FloatArray,
    fractional_longs: BoolArray | None = None,
) -> FloatArray:
    """trunc(weight x equity x (1 - reserve) / price) per row and symbol, toward zero, as the planner rounds.

    Fractional long targets (quantum 1e-9) are always computed in Decimal: floats cannot hold them exactly.
    """
    investable = equity * (1.0 - cash_reserve)
    raw = weights * investable[:, None] / prices
    shares = np.trunc(raw)
    near = (np.abs(raw - np.rint(raw)) <= _TIE * np.maximum(1.0, np.abs(raw))) & (raw != 0)
    if fractional_longs is not None:
        near |= fractional_longs[:, None] & (weights > 0)
    for i, j in zip(*np.nonzero(near), strict=True):
        fractional = fractional_longs is not None and bool(fractional_longs[i])
        shares[i, j] = float(
            exact_target(float(weights[i, j]), float(equity[i]), float(prices[i, j]), float(cash_reserve[i]),
                         fractional_longs=fractional)
        )
    return shares


def exact_target(
    weight: float, equity: float, price: float, cash_reserve: float, *, fractional_longs: bool = False
) -> Decimal:
    """The planner's own Decimal arithmetic, for quotients too close to a whole share for floats."""
    investable = _dec(equity) * (Decimal(1) - _dec(cash_reserve))
    quantum = FRACTIONAL_QUANTUM if fractional_longs and weight > 0 else Decimal(1)
    return (_dec(weight) * investable / _dec(price)).quantize(quantum, rounding=ROUND_DOWN)


def is_small_trade(delta: FloatArray, target: FloatArray, prices: FloatArray, min_trade: FloatArray) -> BoolArray:
    """Legs the planner skips: a trade under min_trade_usd, unless it closes the leg (target zero)."""
    notional = np.abs(delta) * prices
    limit = min_trade[:, None]
    small = (notional < limit) & (delta != 0) & (target != 0)
    near = (np.abs(notional - limit) <= _TIE * np.maximum(1.0, limit)) & (delta != 0) & (target != 0)
    for i, j in zip(*np.nonzero(near), strict=True):
        small[i, j] = abs(_dec(float(delta[i, j]))) * _dec(float(prices[i, j])) < _dec(float(min_trade[i]))
    return np.asarray(small, dtype=np.bool_)


def decide_shares_one(
    held: list[float], weights: list[float], equity: float, prices: list[float], min_trade_usd: float,
    cash_reserve: float, *, fractional_longs: bool = False,
) -> list[float]:
    """decide_shares() for one book in Python floats (the same operations, so the same answers)."""
    investable = equity * (1.0 - cash_reserve)
    out: list[float] = []
    for h, w, p in zip(held, weights, prices, strict=True):
        raw = w * investable / p
        target = float(math.trunc(raw))
        near = raw != 0 and abs(raw - round(raw)) <= _TIE * max(1.0, abs(raw))
        if near or (fractional_longs and w > 0):
            target = float(exact_target(w, equity, p, cash_reserve, fractional_longs=fractional_longs))
        delta = target - h
        if delta != 0 and target != 0:
            notional = abs(delta) * p
            small = notional < min_trade_usd
            if abs(notional - min_trade_usd) <= _TIE * max(1.0, min_trade_usd):
                small = abs(_dec(delta)) * _dec(p) < _dec(min_trade_usd)
            if small:
                target = 0.0 if h != 0 and (h > 0) != (target > 0) else h
        out.append(target)
    return out


def _dot(a: list[float], b: list[float]) -> float:
    return _total([x * y for x, y in zip(a, b, strict=True)])


def _total(values: list[float]) -> float:
    """Left to right from the first term, as numpy sums a short row."""
    total = values[0] if values else 0.0
    for v in values[1:]:
        total += v
    return total


def _sign(x: float) -> float:
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))
