"""The kernel against a plain session-by-session loop written from the rules, not from the kernel."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from bot.config import strategy_from
from bot.core.corporate import Split, split_factor
from bot.core.domain import Symbol
from bot.research.backtest import BacktestSettings, run_backtest


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
    hedge_weight: float = -0.5,
    splits: Sequence[Split] = (),
) -> float:
    """Quarterly + band rebalancing of 50/50 long/short (or long an inverse fund), one session at a time, at the
    close; with `splits`, at as-traded prices, each split converting the shares on its date."""
    adjusted = pd.DataFrame({long: frames[long]["adj_close"], short: frames[short]["adj_close"]}).dropna()
    adjusted = adjusted.loc[pd.Timestamp(start) : pd.Timestamp(end)]
    target = {long: 0.5, short: hedge_weight}
    shares = {long: 0.0, short: 0.0}
    previous_day = None
    previous_quarter = None
    for day, adjusted_row in adjusted.iterrows():
        row = {s: adjusted_row[s] * float(split_factor(splits, Symbol(s), day.date())) for s in shares}
        for split in splits:
            if split.symbol in shares and previous_day is not None and previous_day.date() < split.on <= day.date():
                shares[split.symbol] = round(shares[split.symbol] * float(split.ratio), 9)
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
                fractional_short = shares[s] < 0 and shares[s] != math.trunc(shares[s])
                if change == 0 or (want != 0 and abs(change) * row[s] < min_trade and not fractional_short):
                    continue
                price = row[s] * (1 + slippage_bps / 10_000 * (1 if change > 0 else -1))
                cash -= change * price + abs(change) * row[s] * commission_bps / 10_000
                shares[s] = want
        previous_day, previous_quarter = day, quarter
    return cash + sum(shares[s] * row[s] for s in shares)


COSTS = {"borrow_bps": 50.0, "slippage_bps": 2.0, "commission_bps": 1.0, "cash_rate": 0.02, "min_trade": 100.0}


@pytest.mark.parametrize("band", [0.05, 1.0])
def test_quarterly_pair_on_real_data_agrees_with_a_plain_loop(real_prices, band):
    """25 years of IWM/QQQ, quarterly plus a band, with every cost: within 0.1% of final equity."""
    start, end = date(2000, 6, 1), date(2025, 9, 26)
    settings = BacktestSettings(
        start=start, end=end, frequency="quarterly", leg_band=band, borrow_bps=50, slippage_bps=2,
        commission_bps=1, cash_rate=0.02, min_trade_usd=100, starting_cash=100_000,
    )

    result = run_backtest(strategy_from("pair", {}), real_prices, settings)
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

    result = run_backtest(strategy_from("pair", {}), synthetic, settings)
    expected = reference_pair_equity(
        synthetic, long="IWM", short="QQQ", start=start, end=end, band=0.05, cash=100_000, **COSTS
    )

    assert result.metrics["final_equity"] == pytest.approx(expected, rel=1e-9)


def yahoo_style(frames: Mapping[str, pd.DataFrame], splits: Sequence[Split]) -> dict[str, pd.DataFrame]:
    """The frames as if they were as traded and Yahoo had then applied `splits` to the whole history: each
    fund's prices divided by the product of its ratios, so as-traded prices jump at each split."""
    out = dict(frames)
    for sym in {str(s.symbol) for s in splits}:
        scale = float(math.prod((s.ratio for s in splits if s.symbol == sym), start=Decimal(1)))
        out[sym] = frames[sym].assign(**{c: frames[sym][c] / scale for c in ("open", "high", "low", "close",
                                                                              "adj_close")})
    return out


SYNTHETIC_SPLITS = (
    Split(Symbol("QQQ"), date(2017, 5, 1), Decimal("0.2")),
    Split(Symbol("QQQ"), date(2020, 8, 18), Decimal("0.25")),
    Split(Symbol("PSQ"), date(2018, 3, 3), Decimal("0.2")),  # a Saturday: converts on the Monday
    Split(Symbol("PSQ"), date(2022, 1, 13), Decimal("3")),
    Split(Symbol("IWM"), date(2021, 6, 1), Decimal("2")),
)


@pytest.mark.parametrize("hedge", ["short", "inverse"])
@pytest.mark.parametrize("band", [0.05, 1.0])
def test_synthetic_pair_with_splits_agrees_with_a_plain_loop(synthetic, hedge, band):
    """Forward and reverse splits on both legs (a short left fractional, a long kept fractional), every cost."""
    start, end = date(2015, 1, 2), date(2024, 12, 31)
    frames = yahoo_style(synthetic, SYNTHETIC_SPLITS)
    settings = BacktestSettings(start=start, end=end, leg_band=band, borrow_bps=50, slippage_bps=2, commission_bps=1,
                                cash_rate=0.02, min_trade_usd=100, splits=SYNTHETIC_SPLITS)
    strategy = strategy_from("pair", {"hedge": hedge})

    result = run_backtest(strategy, frames, settings)
    expected = reference_pair_equity(
        frames, long="IWM", short="QQQ" if hedge == "short" else "PSQ", start=start, end=end, band=band,
        cash=100_000, hedge_weight=-0.5 if hedge == "short" else 0.5, splits=SYNTHETIC_SPLITS, **COSTS,
    )

    assert result.metrics["final_equity"] == pytest.approx(expected, rel=1e-9)
    assert sum(result.metrics["splits_applied"].values()) == 3
    assert bool(result.metrics["fractional_shorts"]) == (hedge == "short")  # QQQ 1-for-5 and 1-for-4 of a short


def test_real_psq_pair_across_its_reverse_splits_agrees_with_a_plain_loop(real_prices, real_splits):
    """IWM long, PSQ long, 2006..2025, across PSQ's 1-for-4 (2014-11-06) and 1-for-5 (2024-04-10)."""
    start, end = date(2006, 6, 21), date(2025, 9, 26)
    settings = BacktestSettings(start=start, end=end, leg_band=0.05, borrow_bps=50, slippage_bps=2,
                                commission_bps=1, cash_rate=0.02, min_trade_usd=100, splits=real_splits)

    result = run_backtest(strategy_from("pair", {"hedge": "inverse"}), real_prices, settings)
    expected = reference_pair_equity(real_prices, long="IWM", short="PSQ", start=start, end=end, band=0.05,
                                     cash=100_000, hedge_weight=0.5, splits=real_splits, **COSTS)

    assert result.metrics["splits_applied"] == {"IWM": 0, "PSQ": 2}
    assert result.metrics["final_equity"] == pytest.approx(expected, rel=1e-9)
