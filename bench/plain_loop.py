"""The pair backtest as one would write it by hand: a plain Python loop over float lists, frames to metrics.

The yardstick of bench/backtest_speed.py: the same rules as the engine for the pair (calendar quarters plus a
leg band, whole shares toward zero, min trade, slippage, borrow and cash interest by calendar day / 360,
fills at the close), written for speed as plain Python goes (lists, locals, no pandas in the loop), with the
curve metrics the engine reports. Its final equity agrees with the engine's (the benchmark prints by how much).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from bot.research.backtest import BacktestSettings


def plain_pair_backtest(frames: Mapping[str, pd.DataFrame], s: BacktestSettings, long: str = "IWM",
                        short: str = "QQQ") -> dict[str, float]:
    index = frames[long].index.intersection(frames[short].index)
    a = frames[long]["adj_close"].reindex(index).tolist()
    b = frames[short]["adj_close"].reindex(index).tolist()
    days = np.diff(index.values).astype("timedelta64[D]").astype(np.int64).tolist()
    months = (index.year * 12 + index.month - 1).tolist()
    band = math.inf if s.leg_band is None else s.leg_band
    slip, borrow, rate = s.slippage_bps / 1e4, s.borrow_bps / 1e4, s.cash_rate
    cash, qa, qb = s.starting_cash, 0.0, 0.0
    equity = []
    for t in range(len(a)):
        pa, pb = a[t], b[t]
        if t:
            d = days[t - 1]
            cash = cash * (1.0 + rate * d / 360.0) - (borrow * -qb * pb * d / 360.0 if qb < 0 else 0.0)
        e = cash + qa * pa + qb * pb
        due = t == 0 or months[t] // 3 != months[t - 1] // 3
        if due or abs(qa * pa / e - 0.5) > band or abs(qb * pb / e + 0.5) > band:
            for leg, (q, p, w) in enumerate(((qa, pa, 0.5), (qb, pb, -0.5))):
                want = float(math.trunc(w * e / p))
                change = want - q
                if change == 0 or (want != 0 and abs(change) * p < s.min_trade_usd):
                    continue
                cash -= change * p * (1.0 + (slip if change > 0 else -slip))
                if leg == 0:
                    qa = want
                else:
                    qb = want
            e = cash + qa * pa + qb * pb
        equity.append(e)
    return _metrics(equity, index, rate, days)


def _metrics(equity: list[float], index: pd.DatetimeIndex, rate: float, days: list[int]) -> dict[str, float]:
    returns = [y / x - 1.0 for x, y in zip(equity[:-1], equity[1:], strict=True)]
    excess = [r - rate * d / 360.0 for r, d in zip(returns, days, strict=True)]
    n = len(returns)
    mean_r, mean_x = sum(returns) / n, sum(excess) / n
    sd_r = math.sqrt(sum((r - mean_r) ** 2 for r in returns) / (n - 1))
    sd_x = math.sqrt(sum((x - mean_x) ** 2 for x in excess) / (n - 1))
    down = math.sqrt(sum(x * x for x in excess if x < 0) / n)
    peak, worst = equity[0], 0.0
    for e in equity:
        peak = max(peak, e)
        worst = min(worst, e / peak - 1.0)
    years = (index[-1] - index[0]).days / 365.25
    return {"final_equity": equity[-1], "cagr": (equity[-1] / equity[0]) ** (1 / years) - 1,
            "volatility": sd_r * math.sqrt(252), "sharpe": mean_x / sd_x * math.sqrt(252),
            "sortino": mean_x / down * math.sqrt(252), "max_drawdown": worst}
