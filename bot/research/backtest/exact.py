"""Decisions the floats cannot settle, in Decimal as the planner makes them; and row-wise entry points.

decide_shares, leg_breaches and book_breaches run the loop's own decision code (backend.py) on rows of books and
fall back to Decimal exactly where the loop would stop and ask; the property tests compare them with
bot/core/plan.py:plan_rebalance and bot/core/drift.py:drift_breaches.
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal

import numpy as np

from bot.research.backtest import backend, pyloop
from bot.research.backtest.arrays import BoolArray, FloatArray
from bot.research.backtest.codes import OVER_TIE, OVER_YES, TIE, WEIGHT_TIE

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
    k = held.shape[0]
    sessions = prices.shape[0]
    out = np.zeros((k, sessions), dtype=np.bool_)
    px = np.ascontiguousarray(prices, dtype=np.float64)
    tgs = np.ascontiguousarray(targets, dtype=np.float64)
    leg_over = backend.get().leg_over
    for i in range(k):
        q = np.ascontiguousarray(held[i], dtype=np.float64)
        for t in range(sessions):
            w = tgs[i, t if tgs.shape[1] > 1 else 0]
            over = leg_over(q, px[t], w, float(equity[i, t]), float(band[i]))
            out[i, t] = over == OVER_YES or (
                over == OVER_TIE and exact_leg_over(q.tolist(), px[t].tolist(), w.tolist(), float(equity[i, t]),
                                                    float(band[i]))
            )
    return out


def book_breaches(
    held: FloatArray, prices: FloatArray, targets: FloatArray, equity: FloatArray, bands: FloatArray,
    multiples: FloatArray,
) -> BoolArray:
    """(k,): the book's gross, net or some underlying's effective exposure is off target by more than its band, as
    drift_breaches judges it. held, prices, targets (k, N); equity (k,); bands (k, 3): gross, net, effective (inf:
    no band); multiples (N, U)."""
    book_over = backend.get().book_over
    out = np.zeros(held.shape[0], dtype=np.bool_)
    m = np.ascontiguousarray(multiples, dtype=np.float64)
    for i in range(held.shape[0]):
        q, p, w = (np.ascontiguousarray(a[i], dtype=np.float64) for a in (held, prices, targets))
        b = (float(bands[i, 0]), float(bands[i, 1]), float(bands[i, 2]))
        over = book_over(q, p, w, float(equity[i]), b, m)
        out[i] = over == OVER_YES or (over == OVER_TIE and exact_book_over(q.tolist(), p.tolist(), w.tolist(),
                                                                           float(equity[i]), b, m.tolist()))
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


def exact_book_over(q: list[float], prices: list[float], targets: list[float], equity: float,  # noqa: PLR0913
                    bands: tuple[float, float, float], multiples: list[list[float]]) -> bool:
    """book_over() with the measures within a hair of their band judged in Decimal, as bot/core/drift.py does:
    weights of the held legs (shares x price / equity) against the targets' own gross, net and effective."""
    floats = pyloop.book_measures(q, prices, targets, equity, bands, multiples)
    for k, (drift, band) in enumerate(floats):
        excess = abs(drift) - band
        if abs(excess) <= WEIGHT_TIE:
            if abs(_exact_measures(q, prices, targets, equity, bands, multiples)[k]) > _dec(band):
                return True
        elif excess > 0:
            return True
    return False


def _exact_measures(q: list[float], prices: list[float], targets: list[float], equity: float,
                    bands: tuple[float, float, float], multiples: list[list[float]]) -> list[Decimal]:
    """The drifts of pyloop.book_measures, in Decimal: current (held legs only) minus target."""
    held = [(j, _dec(qj) * _dec(pj) / _dec(equity)) for j, (qj, pj) in enumerate(zip(q, prices, strict=True)) if qj]
    wanted = [_dec(t) for t in targets]
    out: list[Decimal] = []
    zero = Decimal(0)
    if bands[0] < math.inf:
        out.append(sum((abs(w) for _, w in held), zero) - sum((abs(t) for t in wanted), zero))
    if bands[1] < math.inf:
        out.append(sum((w for _, w in held), zero) - sum(wanted, zero))
    if bands[2] < math.inf:
        for u in range(len(multiples[0]) if multiples else 0):
            m = [_dec(row[u]) for row in multiples]
            out.append(sum((w * m[j] for j, w in held), zero) - sum((t * m[j] for j, t in enumerate(wanted)), zero))
    return out


def exact_band_breach(q: list[float], prices: list[float], targets: list[float], equity: float,  # noqa: PLR0913
                      leg_band: float, bands: tuple[float, float, float], multiples: list[list[float]]) -> bool:
    """Whether the loop's band check fires, every tie judged in Decimal: the book's measures, then the legs."""
    if any(b < math.inf for b in bands) and exact_book_over(q, prices, targets, equity, bands, multiples):
        return True
    return leg_band < math.inf and exact_leg_over(q, prices, targets, equity, leg_band)


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
