"""The loop in plain Python: loop.c's algorithm, operation for operation, for machines without a C compiler.

Python floats are IEEE doubles and Python never fuses a multiply-add, so each line here computes what the
same line of loop.c does, bit for bit (tests/backtest/test_loop_backends.py runs both). Where Python
would raise (a division by zero, rounding an infinity) or drop the sign of a zero (math.trunc returns an
int), the helpers below give C's answer. Exact and slow: about 150 times the C loop's time (30 ms for
25 years of a pair).
"""

from __future__ import annotations

import math

import numpy as np

from bot.research.backtest.codes import (
    C_LEN,
    M_BORROW,
    M_COSTS,
    M_CURVE,
    M_DECISIONS,
    M_REBALANCES,
    M_TRADED,
    NEED_BREACH,
    NEED_NONE,
    NEED_SHARES,
    OVER_NO,
    OVER_TIE,
    OVER_YES,
    P_BORROW,
    P_COMMISSION,
    P_DUE_ROW,
    P_EFFECTIVE,
    P_FRACTIONAL,
    P_GROSS,
    P_LEG,
    P_MIN_TRADE,
    P_NET,
    P_RESERVE,
    P_SLIPPAGE,
    P_TARGET_ROW,
    R_COMMISSION,
    R_DAY,
    R_LEN,
    R_ROW,
    S_CASH,
    S_FLOW,
    S_FORCE_BREACH,
    S_HAS_FORCE_Q,
    S_LEN,
    S_NEED,
    S_NEED_EQUITY,
    S_START,
    SPLIT_STEPS,
    TIE,
    WEIGHT_TIE,
)
from bot.research.backtest.loopargs import LoopArgs, Runner

name = "python"  # the backend's label (backend.py)
INF = math.inf


def _div(a: float, b: float) -> float:
    """a / b as C divides: IEEE infinities and NaN where Python would raise."""
    if b != 0:
        return a / b
    if a != a or a == 0:
        return math.nan
    return math.copysign(INF, a) * math.copysign(1.0, b)


def _rint(x: float) -> float:
    """C's rint (ties to even, the sign of a zero kept)."""
    if not math.isfinite(x):
        return x
    return math.copysign(float(round(x)), x)


def _trunc(x: float) -> float:
    if not math.isfinite(x):
        return x
    return math.copysign(float(math.trunc(x)), x)


def _max(a: float, b: float) -> float:
    return b if b > a else a


def _min(a: float, b: float) -> float:
    return b if b < a else a


def row_sum(a: list[float]) -> float:
    """numpy's sum of a row (loop.c row_sum)."""
    n = len(a)
    if n < 8:
        res = a[0] if n else 0.0
        for i in range(1, n):
            res += a[i]
        return res
    if n <= 128:
        r = a[:8]
        i = 8
        while i < n - n % 8:
            for k in range(8):
                r[k] += a[i + k]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for j in range(i, n):
            res += a[j]
        return res
    half = n // 2
    half -= half % 8
    return row_sum(a[:half]) + row_sum(a[half:])


def _leg_over(q: list[float], prices: list[float], targets: list[float], equity: float, band: float) -> int:
    tie = False
    scale = 1.0 / equity
    for qj, pj, tj in zip(q, prices, targets, strict=True):
        excess = abs(qj * pj * scale - tj) - band
        if qj != 0 and abs(excess) <= WEIGHT_TIE:
            tie = True
        elif excess > 0:
            return OVER_YES
    return OVER_TIE if tie else OVER_NO


def _measure_over(drift: float, band: float) -> int:
    excess = abs(drift) - band
    if abs(excess) <= WEIGHT_TIE:
        return OVER_TIE
    return OVER_YES if excess > 0 else OVER_NO


def book_measures(q: list[float], prices: list[float], targets: list[float], equity: float,
                  bands: tuple[float, float, float], multiples: list[list[float]]) -> list[tuple[float, float]]:
    """(drift, band) of each banded book measure, in loop.c book_over's order and arithmetic: gross, net, then the
    effective exposure of each underlying (a column of multiples)."""
    gross_band, net_band, eff_band = bands
    n = len(q)
    out: list[tuple[float, float]] = []
    if gross_band < INF:
        held = wanted = 0.0
        for j in range(n):
            held += abs(q[j] * prices[j] / equity)
            wanted += abs(targets[j])
        out.append((held - wanted, gross_band))
    if net_band < INF:
        net = 0.0
        for j in range(n):
            net += q[j] * prices[j] / equity - targets[j]
        out.append((net, net_band))
    if eff_band < INF:
        for u in range(len(multiples[0]) if n else 0):
            eff = 0.0
            for j in range(n):
                eff += (q[j] * prices[j] / equity - targets[j]) * multiples[j][u]
            out.append((eff, eff_band))
    return out


def _book_over(q: list[float], prices: list[float], targets: list[float], equity: float,
               bands: tuple[float, float, float], multiples: list[list[float]]) -> int:
    tie = False
    for drift, band in book_measures(q, prices, targets, equity, bands, multiples):
        over = _measure_over(drift, band)  # loop.c stops at the first measure over: the same answer
        if over == OVER_YES:
            return OVER_YES
        tie = tie or over == OVER_TIE
    return OVER_TIE if tie else OVER_NO


def _decide(held: list[float], weights: list[float], equity: float, prices: list[float], min_trade: float,
               reserve: float, fractional: bool, out: list[float]) -> bool:
    investable = equity * (1.0 - reserve)
    for j, (h, w, p) in enumerate(zip(held, weights, prices, strict=True)):
        raw = w * investable / p
        if (raw != 0 and abs(raw - _rint(raw)) <= TIE * _max(1.0, abs(raw))) or (fractional and w > 0):
            return True
        target = _trunc(raw)
        delta = target - h
        if delta != 0 and target != 0:
            notional = abs(delta) * p
            if abs(notional - min_trade) <= TIE * _max(1.0, min_trade):
                return True
            if notional < min_trade:
                if h != 0 and (h > 0) != (target > 0):
                    target = 0.0
                elif not (h < 0 and h != _trunc(h)):
                    target = h
        out[j] = target
    return False


def curve_row(e: list[float], cash_return: list[float]) -> list[float]:
    """loop.c curve_row: the C_LEN statistics of one curve, its deepest drawdown's sessions last."""
    t_len = len(e)
    m = t_len - 1
    total, r_sum, x_sum, peak, worst = e[0], 0.0, 0.0, e[0], 0.0
    peak_at = trough = trough_peak = 0
    r = [0.0] * max(m, 0)
    for t in range(1, t_len):
        total += e[t]
        r[t - 1] = _div(e[t], e[t - 1]) - 1.0
        r_sum += r[t - 1]
        x_sum += r[t - 1] - cash_return[t]
        if e[t] > peak:
            peak, peak_at = e[t], t
        dd = _div(e[t], peak) - 1.0
        if dd < worst:
            worst, trough, trough_peak = dd, t, peak_at
    r_mean = r_sum / m if m > 0 else math.nan
    x_mean = x_sum / m if m > 0 else math.nan
    r_sq = x_sq = down = 0.0
    for t in range(1, t_len):
        x = r[t - 1] - cash_return[t]
        dr, dx = r[t - 1] - r_mean, x - x_mean
        r_sq += dr * dr
        x_sq += dx * dx
        loss = x if x < 0 else 0.0
        down += loss * loss
    recovery = next((t for t in range(trough, t_len) if e[t] >= e[trough_peak]), -1) if worst < 0 else -1
    return [total / t_len, r_mean, math.sqrt(r_sq / (m - 1)) if m > 1 else math.nan, x_mean,
            math.sqrt(x_sq / (m - 1)) if m > 1 else math.nan, math.sqrt(down / m) if m > 0 else math.nan, worst,
            e[0], e[-1], float(trough_peak), float(trough), float(recovery)]


def curve_stats(equity: np.ndarray, cash_return: np.ndarray, out: np.ndarray) -> None:
    cash = cash_return.tolist()
    for v, row in enumerate(equity.tolist()):
        out[v] = curve_row(row, cash)


def leg_over(q: np.ndarray, prices: np.ndarray, targets: np.ndarray, equity: float, band: float) -> int:
    return _leg_over(q.tolist(), prices.tolist(), targets.tolist(), equity, band)


def book_over(q: np.ndarray, prices: np.ndarray, targets: np.ndarray, equity: float,
              bands: tuple[float, float, float], multiples: np.ndarray) -> int:
    return _book_over(q.tolist(), prices.tolist(), targets.tolist(), equity, bands, multiples.tolist())


def decide_row(held: np.ndarray, weights: np.ndarray, equity: float, prices: np.ndarray, min_trade: float,
               reserve: float, fractional: bool, out: np.ndarray) -> bool:
    got = out.tolist()
    asked = _decide(held.tolist(), weights.tolist(), equity, prices.tolist(), min_trade, reserve, fractional, got)
    out[:] = got
    return asked


def runner(a: LoopArgs) -> Runner:
    """loop.c pb_run over Python lists: the market is read once, each row's state and outputs written back."""
    market = _Market(a)

    def run(rows: np.ndarray) -> None:
        for v in rows.tolist():
            _run_row(market, a, v)

    return run


class _Market:
    """The read-only arrays as lists, once per runner."""

    def __init__(self, a: LoopArgs) -> None:
        self.close: list[list[float]] = a.close.tolist()
        self.opens: list[list[float]] = a.opens.tolist()
        self.cash_return: list[float] = a.cash_return.tolist()
        self.accrual_days: list[float] = a.accrual_days.tolist()
        self.multiples: list[list[float]] = a.multiples.tolist()
        self.splits = list(zip(a.split_day.tolist(), a.split_col.tolist(), a.split_ratio.tolist(), strict=True))
        self.targets: list[list[list[float]]] = a.targets.tolist()
        self.due: list[list[bool]] = a.due.tolist()


def _run_row(m: _Market, a: LoopArgs, v: int) -> None:  # noqa: C901, PLR0912, PLR0915  # loop.c's pb_run, line for line
    t_len, n = len(m.close), len(m.multiples)
    per_session = len(m.targets[0]) > 1
    p = a.params[v].tolist()
    st = a.state[v].tolist()
    sm = a.summary[v].tolist()
    eq = a.equity[v].tolist()
    qv, force_q = st[S_LEN : S_LEN + n], st[S_LEN + n :]
    st[S_NEED] = NEED_NONE
    c, fl = st[S_CASH], st[S_FLOW]
    s, due = int(p[P_TARGET_ROW]), m.due[int(p[P_DUE_ROW])]
    leg_b, bands = p[P_LEG], (p[P_GROSS], p[P_NET], p[P_EFFECTIVE])
    book_banded = any(b < INF for b in bands)
    commission, slip, borrow = p[P_COMMISSION] * 1e-4, p[P_SLIPPAGE] * 1e-4, p[P_BORROW] * 1e-4
    min_trade, reserve, fractional = p[P_MIN_TRADE], p[P_RESERVE], p[P_FRACTIONAL] != 0
    first = int(st[S_START])
    traded_sum, costs_sum = sm[M_TRADED], sm[M_COSTS]
    rebalances, decisions = int(sm[M_REBALANCES]), int(sm[M_DECISIONS])
    borrowed = 0.0
    stopped = False
    new_q, zeros = [0.0] * n, [0.0] * n
    splits = [x for x in m.splits if x[0] > first]
    for t in range(first, t_len):
        close_t = m.close[t]
        c_before, fl_before = c, fl
        fee = 0.0
        if t > 0:
            if borrow != 0:
                short_value = 0.0
                for j in range(n):
                    if qv[j] < 0:
                        short_value -= qv[j] * close_t[j]
                fee = borrow * short_value * m.accrual_days[t] / 360.0
            borrowed += fee
            c = c * (1.0 + m.cash_return[t]) + fl - fee
            fl = 0.0
        e = c
        for j in range(n):
            e += qv[j] * close_t[j]
        target_st = m.targets[s][t if per_session else 0]
        act = due[t] or not e > 0
        if not act:
            if t == first and st[S_FORCE_BREACH] >= 0:
                act = st[S_FORCE_BREACH] == 1
            else:
                book = _book_over(qv, close_t, target_st, e, bands, m.multiples) if book_banded else OVER_NO
                leg = _leg_over(qv, close_t, target_st, e, leg_b) if book != OVER_YES and leg_b < INF \
                    else OVER_NO
                act = book == OVER_YES or leg == OVER_YES
                if not act and OVER_TIE in (book, leg):
                    st[S_NEED], st[S_NEED_EQUITY], stopped = NEED_BREACH, e, True
        if not stopped and act:
            if t == first and st[S_HAS_FORCE_Q] != 0:
                new_q = list(force_q)
            elif _decide(qv, target_st if e > 0 else zeros, e, close_t, min_trade, reserve, fractional, new_q):
                st[S_NEED], st[S_NEED_EQUITY], stopped = NEED_SHARES, e, True
        if stopped:
            c, fl = c_before, fl_before
            borrowed -= fee
            st[S_START] = float(t)
            break
        if a.record and a.next_open:
            _mark_book(a, v, t, qv, close_t, e)
        if not act:
            eq[t] = e
        else:
            late = a.next_open and t + 1 >= t_len
            fill_t = m.opens[min(t + 1, t_len - 1)] if a.next_open else close_t
            traded = paid_total = slipped = 0.0
            acted = False
            k = int(a.n_trades[0])
            rec: list[float] = [0.0] * (R_LEN + 3 * n)
            if a.record and (a.trades is None or k >= a.trades.shape[0]):
                raise IndexError("run: more trades than the trade array holds")
            for j in range(n):
                d = 0.0 if late else new_q[j] - qv[j]
                sign = 1.0 if d > 0 else -1.0 if d < 0 else 0.0
                paid = fill_t[j] * (1.0 + sign * slip)
                traded += abs(d) * fill_t[j]
                paid_total += d * paid
                slipped += d * (paid - fill_t[j])
                acted = acted or d != 0
                rec[R_LEN + j], rec[R_LEN + n + j], rec[R_LEN + 2 * n + j] = d, fill_t[j], paid
                qv[j] += d
            fee_paid = traded * commission
            cash_flow = -paid_total - fee_paid
            rebalances += acted
            decisions += 1
            traded_sum += traded
            costs_sum += fee_paid + slipped
            if a.record and acted and a.trades is not None:
                rec[R_ROW], rec[R_DAY], rec[R_COMMISSION] = float(v), float(t), fee_paid
                a.trades[k] = rec
                a.n_trades[0] = k + 1
            if a.next_open:
                eq[t] = e
                fl = cash_flow
            else:
                c = c + cash_flow
                marked = c
                for j in range(n):
                    marked += qv[j] * close_t[j]
                eq[t] = marked
        if a.record and not a.next_open:
            _mark_book(a, v, t, qv, close_t, eq[t])
        if t == first:
            st[S_FORCE_BREACH], st[S_HAS_FORCE_Q] = -1.0, 0.0
        while splits and splits[0][0] == t + 1:
            _, j, ratio = splits.pop(0)
            qv[j] = _rint(qv[j] * ratio * SPLIT_STEPS) / SPLIT_STEPS
    if not stopped:
        st[S_START] = float(t_len)
    st[S_CASH], st[S_FLOW] = c, fl
    st[S_LEN : S_LEN + n] = qv
    sm[M_TRADED], sm[M_COSTS], sm[M_BORROW] = traded_sum, costs_sum, sm[M_BORROW] + borrowed
    sm[M_REBALANCES], sm[M_DECISIONS] = float(rebalances), float(decisions)
    if not stopped and a.stats:
        sm[M_CURVE : M_CURVE + C_LEN] = curve_row(eq, m.cash_return)
    a.state[v], a.summary[v], a.equity[v] = st, sm, eq


def _mark_book(a: LoopArgs, v: int, t: int, q: list[float], close_t: list[float], equity: float) -> None:
    if a.held is None or a.exposure is None:
        raise ValueError("record needs held and exposure")
    a.held[v, t] = q
    a.exposure[v, 0, t] = _div(row_sum([abs(x * p) for x, p in zip(q, close_t, strict=True)]), equity)
    a.exposure[v, 1, t] = _div(row_sum([x * p for x, p in zip(q, close_t, strict=True)]), equity)
