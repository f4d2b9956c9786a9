"""Decisions the floats cannot settle, in Decimal as the planner makes them; and row-wise entry points.

decide_shares and leg_breaches run the compiled decision code of the loop (backend.py) on rows of books and fall
back to Decimal exactly where the loop would stop and ask; the property tests compare them with
bot/core/plan.py:plan_rebalance and bot/core/drift.py:drift_breaches.
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal

import numpy as np

from bot.backtest import backend
from bot.backtest.arrays import BoolArray, FloatArray
from bot.backtest.codes import OVER_TIE, OVER_YES, TIE, WEIGHT_TIE

FRACTIONAL_QUANTUM = Decimal("0.000000001")  # as bot/core/plan.py: Alpaca takes 9 decimal places


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
    k, n = held.shape
    fractional = np.zeros(k, dtype=np.bool_) if fractional_longs is None else fractional_longs
    out = np.empty((k, n))
    decide_row = backend.get().decide_row
    for i in range(k):
        h, w, p = (np.ascontiguousarray(a[i], dtype=np.float64) for a in (held, weights, prices))
        if decide_row(h, w, float(equity[i]), p, float(min_trade_usd[i]), float(cash_reserve[i]),
                      bool(fractional[i]), out[i]):
            out[i] = decide_shares_one(h.tolist(), w.tolist(), float(equity[i]), p.tolist(), float(min_trade_usd[i]),
                                       float(cash_reserve[i]), fractional_longs=bool(fractional[i]))
    return out


def leg_breaches(
    held: FloatArray, prices: FloatArray, targets: FloatArray, equity: FloatArray, band: FloatArray
) -> BoolArray:
    """(k, L): some leg's |shares x price / equity - target| is over the band, as drift_breaches judges it.

    held is (k, N) shares, prices (L, N), targets (k, L or 1, N), equity (k, L), band (k,).
    """
    k, n = held.shape
    sessions = prices.shape[0]
    out = np.zeros((k, sessions), dtype=np.bool_)
    px = np.ascontiguousarray(prices, dtype=np.float64)
    tgs = np.ascontiguousarray(targets, dtype=np.float64)
    leg_over = backend.get().leg_over
    for i in range(k):
        q = np.ascontiguousarray(held[i], dtype=np.float64)
        for t in range(sessions):
            tt = t if tgs.shape[1] > 1 else 0
            over = leg_over(q, px, t, tgs, i, tt, float(equity[i, t]), float(band[i]))
            out[i, t] = over == OVER_YES or (
                over == OVER_TIE and exact_leg_over(q.tolist(), px[t].tolist(), tgs[i, tt].tolist(),
                                                    float(equity[i, t]), float(band[i]))
            )
    return out


def exact_leg_over(q: list[float], prices: list[float], targets: list[float], equity: float, band: float) -> bool:
    """leg_over() with the legs within a hair of the band judged in Decimal, as bot/core/drift.py does."""
    for qj, pj, tj in zip(q, prices, targets, strict=True):
        excess = abs(qj * pj / equity - tj) - band
        if qj != 0 and abs(excess) <= WEIGHT_TIE:
            if abs(_dec(qj) * _dec(pj) / _dec(equity) - _dec(tj)) > _dec(band):
                return True
        elif excess > 0:
            return True
    return False


def exact_target(
    weight: float, equity: float, price: float, cash_reserve: float, *, fractional_longs: bool = False
) -> Decimal:
    """The planner's own Decimal arithmetic, for quotients too close to a whole share for floats."""
    investable = _dec(equity) * (Decimal(1) - _dec(cash_reserve))
    quantum = FRACTIONAL_QUANTUM if fractional_longs and weight > 0 else Decimal(1)
    return (_dec(weight) * investable / _dec(price)).quantize(quantum, rounding=ROUND_DOWN)


def decide_shares_one(
    held: list[float], weights: list[float], equity: float, prices: list[float], min_trade_usd: float,
    cash_reserve: float, *, fractional_longs: bool = False,
) -> list[float]:
    """decide_row() for one book in Python floats, with Decimal wherever decide_row would ask for it."""
    investable = equity * (1.0 - cash_reserve)
    out: list[float] = []
    for h, w, p in zip(held, weights, prices, strict=True):
        raw = w * investable / p
        target = float(math.trunc(raw))
        near = raw != 0 and abs(raw - round(raw)) <= TIE * max(1.0, abs(raw))
        if near or (fractional_longs and w > 0):
            target = float(exact_target(w, equity, p, cash_reserve, fractional_longs=fractional_longs))
        delta = target - h
        if delta != 0 and target != 0:
            notional = abs(delta) * p
            small = notional < min_trade_usd
            if abs(notional - min_trade_usd) <= TIE * max(1.0, min_trade_usd):
                small = abs(_dec(delta)) * _dec(p) < _dec(min_trade_usd)
            if small and h != 0 and (h > 0) != (target > 0):
                target = 0.0
            elif small and not is_fractional_short(h):
                target = h
        out.append(target)
    return out


def is_fractional_short(held: float) -> bool:
    """A short a split left with a fraction of a share: the next rebalance makes it whole, whatever its size."""
    return held < 0 and held != math.trunc(held)


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))
