"""The compiled inner loop (numba): each variant walks its sessions one at a time, in floats.

Per session: interest and borrow carry the cash to the close, the book is marked, and a decision is
due on the calendar, on a ruined book, or on a band breach; a decision trades to the planner's
targets (bot/core/plan.py). Where floats cannot settle a decision (a leg's drift within a hair of its
band, a quotient within a hair of a whole share, a trade within a hair of min_trade_usd, or any
fractional long target) the loop stops *before* committing that session and reports what it needs;
the driver in kernel.py settles it in Decimal and resumes the variant with the answer.

Everything here is plain float arithmetic on C-contiguous arrays, so it compiles once (cache=True).
loop.c is the same loop in C, which cloop.py compiles and prefers; this module is its fallback where
no C compiler is available, and the reference the backend test compares the C loop with.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bot.backtest.codes import (
    NEED_BREACH,
    NEED_NONE,
    NEED_SHARES,
    OVER_NO,
    OVER_TIE,
    OVER_YES,
    SPLIT_STEPS,
    TIE,
    WEIGHT_TIE,
)

__all__ = ["NEED_BREACH", "NEED_NONE", "NEED_SHARES", "OVER_NO", "OVER_TIE", "OVER_YES", "SPLIT_STEPS", "TIE",
           "WEIGHT_TIE", "curve_stats", "decide_row", "leg_over", "name", "simulate"]

name = "numba"  # the backend's label (backend.py)


@njit(cache=True)
def leg_over(q, prices, t, targets, s, tt, equity, band):  # type: ignore[no-untyped-def]
    """OVER_YES when some leg's |q x p / equity - target| is over the band, OVER_TIE when floats can't tell.

    Prices are prices[t] and targets targets[s, tt]: helpers take whole arrays and indices, because a
    slice in the per-session loop costs a reference count.
    """
    tie = False
    scale = 1.0 / equity  # one division, not one per leg: an ulp or two, far inside WEIGHT_TIE
    for j in range(q.shape[0]):
        excess = abs(q[j] * prices[t, j] * scale - targets[s, tt, j]) - band
        if q[j] != 0 and abs(excess) <= WEIGHT_TIE:  # an empty leg's weight is exactly 0: never a tie
            tie = True
        elif excess > 0:
            return OVER_YES
    return OVER_TIE if tie else OVER_NO


@njit(cache=True)
def decide_row(held, weights, equity, prices, min_trade, reserve, fractional, out):  # type: ignore[no-untyped-def]
    """Shares after a rebalance into `out`; True when a leg needs Decimal (then `out` is incomplete).

    trunc(weight x equity x (1 - reserve) / price), toward zero; a leg whose trade is under min_trade
    is left alone unless its target is zero, or it is a short a split left fractional (Alpaca shorts whole
    shares only); a small sign flip still closes the old side.
    """
    investable = equity * (1.0 - reserve)
    for j in range(held.shape[0]):
        h, w, p = held[j], weights[j], prices[j]
        raw = w * investable / p
        if (raw != 0 and abs(raw - np.rint(raw)) <= TIE * max(1.0, abs(raw))) or (fractional and w > 0):
            return True
        target = np.trunc(raw)
        delta = target - h
        if delta != 0 and target != 0:
            notional = abs(delta) * p
            if abs(notional - min_trade) <= TIE * max(1.0, min_trade):
                return True
            if notional < min_trade:
                if h != 0 and (h > 0) != (target > 0):
                    target = 0.0
                elif not (h < 0 and h != np.trunc(h)):  # a split's fractional short goes whole at any size
                    target = h
        out[j] = target
    return False


@njit(cache=True)
def _book_over(q, prices, t, targets, s, tt, equity, gross_band, net_band, eff_band, multiples):  # type: ignore[no-untyped-def]
    """Gross, net or effective (per underlying) exposure off target by more than its band."""
    n = q.shape[0]
    if gross_band < np.inf:
        held = 0.0
        wanted = 0.0
        for j in range(n):
            held += abs(q[j] * prices[t, j] / equity)
            wanted += abs(targets[s, tt, j])
        if abs(held - wanted) > gross_band:
            return True
    if net_band < np.inf:
        net = 0.0
        for j in range(n):
            net += q[j] * prices[t, j] / equity - targets[s, tt, j]
        if abs(net) > net_band:
            return True
    if eff_band < np.inf:
        for u in range(multiples.shape[1]):
            eff = 0.0
            for j in range(n):
                eff += (q[j] * prices[t, j] / equity - targets[s, tt, j]) * multiples[j, u]
            if abs(eff) > eff_band:
                return True
    return False


@njit(cache=True)
def simulate(  # type: ignore[no-untyped-def]  # noqa: PLR0913
    rows, close, opens, cash_return, accrual_days, multiples, split_day, split_col, split_ratio,
    targets, target_row, due, due_row,
    bands, costs_bps, min_trade, reserve, fractional, next_open, record,
    q, cash, flow, start, force_breach, force_q, has_force_q,
    equity, tallies, counts, need, need_equity, trades, trade_at, n_trades,
):
    """Run each variant in `rows` from start[v] to the last session, or until it needs a Decimal answer.

    bands (V, 4): leg, gross, net, effective; costs_bps (V, 3): commission, slippage, borrow (annual).
    State (q, cash, flow = a next-open trade's cash, due next session; start) is as of the end of
    session start[v] - 1. need[v] says what stopped a variant at start[v]; force_breach[v] (-1 unset)
    and force_q[v] (when has_force_q[v]) are those answers, used at session start[v] only.
    tallies (V, 4): traded, costs, borrow paid, unused; counts (V, 2): rebalances, decisions.
    Splits (split_day, split_col, split_ratio, sorted by day) multiply a column's holding as it enters the
    session split_day[e], that is at the end of the session before, so a stop at a session never repeats one.
    trades (K, 3, N): shares, fill price, paid price; trade_at (K, 3): row, day, commission.
    """
    t_len, n = close.shape
    per_session = targets.shape[1] > 1
    new_q = np.empty(n)
    zeros = np.zeros(n)
    for v in rows:
        need[v] = NEED_NONE
        qv = q[v]
        c = cash[v]
        fl = flow[v]
        s, f = target_row[v], due_row[v]
        leg_b, gross_b, net_b, eff_b = bands[v, 0], bands[v, 1], bands[v, 2], bands[v, 3]
        book_banded = gross_b < np.inf or net_b < np.inf or eff_b < np.inf
        commission, slip, borrow = costs_bps[v, 0] * 1e-4, costs_bps[v, 1] * 1e-4, costs_bps[v, 2] * 1e-4
        first = start[v]
        borrowed = 0.0
        stopped = False
        e_split = 0
        while e_split < split_day.shape[0] and split_day[e_split] <= first:
            e_split += 1
        for t in range(first, t_len):
            c_before, fl_before = c, fl
            fee = 0.0
            if t > 0:
                short_value = 0.0
                for j in range(n):
                    if qv[j] < 0:
                        short_value -= qv[j] * close[t, j]
                fee = borrow * short_value * accrual_days[t] / 360.0
                borrowed += fee
                c = c * (1.0 + cash_return[t]) + fl - fee
                fl = 0.0
            e = c
            for j in range(n):
                e += qv[j] * close[t, j]
            tt = t if per_session else 0
            act = due[f, t] or not e > 0
            if not act:
                if t == first and force_breach[v] >= 0:
                    act = force_breach[v] == 1
                else:
                    if book_banded:
                        act = _book_over(qv, close, t, targets, s, tt, e, gross_b, net_b, eff_b, multiples)
                    if not act and leg_b < np.inf:
                        over = leg_over(qv, close, t, targets, s, tt, e, leg_b)
                        if over == OVER_TIE:
                            need[v], need_equity[v] = NEED_BREACH, e
                            stopped = True
                        act = over == OVER_YES
            if stopped:
                c, fl = c_before, fl_before
                borrowed -= fee
                start[v] = t
                break
            if not act:
                equity[v, t] = e
            else:
                if t == first and has_force_q[v]:
                    new_q[:] = force_q[v]
                elif decide_row(qv, targets[s, tt] if e > 0 else zeros, e, close[t], min_trade[v], reserve[v],
                                fractional[v], new_q):
                    need[v], need_equity[v] = NEED_SHARES, e
                    c, fl = c_before, fl_before
                    borrowed -= fee
                    start[v] = t
                    stopped = True
                    break
                late = next_open and t + 1 >= t_len
                fill, ft = (opens, min(t + 1, t_len - 1)) if next_open else (close, t)
                traded = 0.0
                paid_total = 0.0
                slipped = 0.0
                acted = False
                k = n_trades[0]
                for j in range(n):
                    d = 0.0 if late else new_q[j] - qv[j]
                    sign = 1.0 if d > 0 else -1.0 if d < 0 else 0.0
                    paid = fill[ft, j] * (1.0 + sign * slip)
                    traded += abs(d) * fill[ft, j]
                    paid_total += d * paid
                    slipped += d * (paid - fill[ft, j])
                    if d != 0:
                        acted = True
                    if record:
                        trades[k, 0, j], trades[k, 1, j], trades[k, 2, j] = d, fill[ft, j], paid
                    qv[j] += d
                fee_paid = traded * commission
                cash_flow = -paid_total - fee_paid
                counts[v, 0] += acted
                counts[v, 1] += 1
                tallies[v, 0] += traded
                tallies[v, 1] += fee_paid + slipped
                if record and acted:
                    trade_at[k, 0], trade_at[k, 1], trade_at[k, 2] = v, t, fee_paid
                    n_trades[0] = k + 1
                if next_open:
                    equity[v, t] = e
                    fl = cash_flow
                else:
                    c = c + cash_flow
                    marked = c
                    for j in range(n):
                        marked += qv[j] * close[t, j]
                    equity[v, t] = marked
            if t == first:
                force_breach[v] = -1
                has_force_q[v] = False
            while e_split < split_day.shape[0] and split_day[e_split] == t + 1:
                j = split_col[e_split]
                qv[j] = np.rint(qv[j] * split_ratio[e_split] * SPLIT_STEPS) / SPLIT_STEPS
                e_split += 1
        if not stopped:
            start[v] = t_len
        cash[v] = c
        flow[v] = fl
        tallies[v, 2] += borrowed


@njit(cache=True)
def curve_stats(equity, cash_return, out):  # type: ignore[no-untyped-def]
    """Per row of equity (V, T) into out (V, 7): mean equity, mean and sample sd of daily returns,
    mean and sample sd of returns over cash, downside deviation (rms of negative excess), max drawdown.
    """
    v_len, t_len = equity.shape
    m = t_len - 1
    r = np.empty(max(m, 0))
    for v in range(v_len):
        e = equity[v]
        total = e[0]
        r_sum = 0.0
        x_sum = 0.0
        peak = e[0]
        worst = 0.0
        for t in range(1, t_len):
            total += e[t]
            r[t - 1] = e[t] / e[t - 1] - 1.0
            r_sum += r[t - 1]
            x_sum += r[t - 1] - cash_return[t]
            peak = max(peak, e[t])
            worst = min(worst, e[t] / peak - 1.0)
        r_mean = r_sum / m if m > 0 else np.nan
        x_mean = x_sum / m if m > 0 else np.nan
        r_sq = 0.0
        x_sq = 0.0
        down = 0.0
        for t in range(1, t_len):
            x = r[t - 1] - cash_return[t]
            r_sq += (r[t - 1] - r_mean) ** 2
            x_sq += (x - x_mean) ** 2
            if x < 0:
                down += x * x
        out[v, 0] = total / t_len
        out[v, 1] = r_mean
        out[v, 2] = np.sqrt(r_sq / (m - 1)) if m > 1 else np.nan
        out[v, 3] = x_mean
        out[v, 4] = np.sqrt(x_sq / (m - 1)) if m > 1 else np.nan
        out[v, 5] = np.sqrt(down / m) if m > 0 else np.nan
        out[v, 6] = worst
