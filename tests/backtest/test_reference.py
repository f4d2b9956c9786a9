"""The kernel against a plain session-by-session loop written from the rules, not from the kernel."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date

import pandas as pd
import pytest

from bot.backtest import BacktestSettings, run_backtest
from strategies import build_strategy


def reference_pair_equity(
    frames: Mapping[str, pd.DataFrame],
    *,
    long: str,
    short: str,
    start: date,
    end: date,
    band: float,
    cash: float,
    borrow_bps: float,
    slippage_bps: float,
    commission_bps: float,
    cash_rate: float,
    min_trade: float,
) -> float:
    """Quarterly + band rebalancing of 50/50 long/short, one session at a time, at the close."""
    px = pd.DataFrame({long: frames[long]["adj_close"], short: frames[short]["adj_close"]}).dropna()
    px = px.loc[pd.Timestamp(start) : pd.Timestamp(end)]
    target = {long: 0.5, short: -0.5}
    shares = {long: 0.0, short: 0.0}
    previous_day = None
    previous_quarter = None
    for day, row in px.iterrows():
        if previous_day is not None:
            days = (day - previous_day).days
            cash += cash * cash_rate * days / 360
            short_value = sum(-shares[s] * row[s] for s in shares if shares[s] < 0)
            cash -= short_value * borrow_bps / 10_000 * days / 360
        equity = cash + sum(shares[s] * row[s] for s in shares)
        quarter = (day.year, (day.month - 1) // 3)
        due = quarter != previous_quarter
        off_band = any(abs(shares[s] * row[s] / equity - target[s]) > band for s in shares)
        if due or off_band:
            for s in shares:
                want = float(math.trunc(target[s] * equity / row[s]))
                change = want - shares[s]
                if change == 0 or (want != 0 and abs(change) * row[s] < min_trade):
                    continue
                price = row[s] * (1 + slippage_bps / 10_000 * (1 if change > 0 else -1))
                cash -= change * price + abs(change) * row[s] * commission_bps / 10_000
                shares[s] = want
        previous_day, previous_quarter = day, quarter
    return cash + sum(shares[s] * px.iloc[-1][s] for s in shares)


COSTS = {"borrow_bps": 50.0, "slippage_bps": 2.0, "commission_bps": 1.0, "cash_rate": 0.02, "min_trade": 100.0}


@pytest.mark.parametrize("band", [0.05, 1.0])
def test_quarterly_pair_on_real_data_agrees_with_a_plain_loop(real_prices, band):
    """25 years of IWM/QQQ, quarterly plus a band, with every cost: within 0.1% of final equity."""
    start, end = date(2000, 6, 1), date(2025, 9, 26)
    settings = BacktestSettings(
        start=start, end=end, frequency="quarterly", leg_band=band, borrow_bps=50, slippage_bps=2,
        commission_bps=1, cash_rate=0.02, min_trade_usd=100, starting_cash=100_000,
    )

    result = run_backtest(build_strategy("pair", {}), real_prices, settings)
    expected = reference_pair_equity(
        real_prices, long="IWM", short="QQQ", start=start, end=end, band=band, cash=100_000, **COSTS
    )

    assert result.metrics["final_equity"] == pytest.approx(expected, rel=1e-3)
    assert result.metrics["final_equity"] == pytest.approx(expected, rel=1e-9)


def test_synthetic_pair_agrees_with_a_plain_loop(synthetic):
    """The same agreement on the synthetic market, which is always available."""
    start, end = date(2015, 1, 2), date(2024, 12, 31)
    settings = BacktestSettings(
        start=start, end=end, leg_band=0.05, borrow_bps=50, slippage_bps=2, commission_bps=1,
        cash_rate=0.02, min_trade_usd=100,
    )

    result = run_backtest(build_strategy("pair", {}), synthetic, settings)
    expected = reference_pair_equity(
        synthetic, long="IWM", short="QQQ", start=start, end=end, band=0.05, cash=100_000, **COSTS
    )

    assert result.metrics["final_equity"] == pytest.approx(expected, rel=1e-9)
