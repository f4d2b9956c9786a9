"""The same prices in differently shaped frames give the same backtest, bit for bit.

run_backtest reads frames through numpy where it can prove pandas would give the same values (plain
session indexes, numeric columns) and through pandas elsewhere; which path a frame takes must never show
in the result. The result's tables are built from the run's arrays on first access; they must agree with
its metrics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd
import pytest

from bot.config import strategy_from
from bot.research import metrics
from bot.research.backtest import BacktestResult, BacktestSettings, run_backtest

SETTINGS = BacktestSettings(start=date(2016, 1, 4), end=date(2024, 12, 31), leg_band=0.05, slippage_bps=1,
                            commission_bps=1, borrow_bps=50, cash_rate=0.02)
OVERLAY = strategy_from("overlay", {})
Frames = dict[str, pd.DataFrame]


def _with_freq(frames: Frames) -> Frames:
    """Each index carries an inferred business-day freq, as exchange calendars hand them out."""
    out = {}
    for sym, frame in frames.items():
        copy = frame.copy()
        copy.index = pd.DatetimeIndex(copy.index, freq=pd.offsets.CustomBusinessDay(
            holidays=pd.bdate_range(copy.index[0], copy.index[-1]).difference(copy.index)))
        out[sym] = copy
    return out


def _mixed_dtypes(frames: Frames) -> Frames:
    """Integer volume and float32 highs: the frame as a whole is still float64 through to_numpy()."""
    return {s: f.assign(volume=f["volume"].round().astype(np.int64), high=f["high"].astype(np.float32))
            for s, f in frames.items()}


def _with_text(frames: Frames) -> Frames:
    """A text column: the frame comes out of to_numpy() as objects, so each column is read on its own."""
    return {s: f.assign(source="synthetic") for s, f in frames.items()}


def _second_units(frames: Frames) -> Frames:
    """SPY's and TNA's dates in seconds, the others' in nanoseconds: sessions are matched by pandas."""
    out = dict(frames)
    for sym in ("SPY", "TNA"):
        out[sym] = frames[sym].copy()
        out[sym].index = out[sym].index.as_unit("s")
    return out


def _new_york(frames: Frames) -> Frames:
    """Dates as midnight in New York, tz-aware: labelled by pandas, not numpy."""
    out = {}
    for sym, frame in frames.items():
        out[sym] = frame.copy()
        out[sym].index = frame.index.tz_localize("America/New_York")
    return out


def _no_opens(frames: Frames) -> Frames:
    """Opens missing (NaN): a backtest that fills at the close never reads them."""
    return {s: f.assign(open=np.nan) for s, f in frames.items()}


def _holes(frames: Frames) -> Frames:
    """SQQQ misses every 50th session: the common sessions are an intersection, not a slice."""
    out = dict(frames)
    out["SQQQ"] = frames["SQQQ"].iloc[[i for i in range(len(frames["SQQQ"])) if i % 50 != 7]]
    return out


def _late_start(frames: Frames) -> Frames:
    """TNA's history starts later and UPRO's ends earlier than the others'."""
    return {**frames, "TNA": frames["TNA"].iloc[300:], "UPRO": frames["UPRO"].iloc[:-200]}


def _same(a: BacktestResult, b: BacktestResult) -> None:
    for table in ("equity", "positions", "exposure", "trades", "benchmarks"):
        left, right = getattr(a, table), getattr(b, table)
        if isinstance(right.index, pd.DatetimeIndex) and right.index.tz is not None:
            right = right.set_axis(right.index.tz_localize(None).as_unit(left.index.unit))
        assert left.equals(right), table
    assert a.metrics == b.metrics


@pytest.mark.parametrize("reshape", [_with_freq, _mixed_dtypes, _with_text, _second_units, _new_york, _no_opens])
def test_a_frame_shape_does_not_change_the_backtest(synthetic: Frames, reshape: Callable[[Frames], Frames]) -> None:
    _same(run_backtest(OVERLAY, synthetic, SETTINGS), run_backtest(OVERLAY, reshape(synthetic), SETTINGS))


@pytest.mark.parametrize("cut", [_holes, _late_start])
def test_the_common_sessions_are_pandas_intersection(synthetic: Frames, cut: Callable[[Frames], Frames]) -> None:
    """numpy's intersection equals pandas' (frames with dates in two units take pandas' path)."""
    frames = cut(synthetic)
    result = run_backtest(OVERLAY, frames, SETTINGS)
    _same(result, run_backtest(OVERLAY, _second_units(frames), SETTINGS))
    expected = frames["SPY"].index
    for sym in OVERLAY.universe:
        expected = expected.intersection(frames[sym].index)
    expected = expected[(expected >= pd.Timestamp(SETTINGS.start)) & (expected <= pd.Timestamp(SETTINGS.end))]
    assert result.equity.index.equals(expected)


def test_next_open_fills_read_the_opens(synthetic: Frames) -> None:
    """Fills at the next open trade at the adjusted opens, so the opens must be there."""
    settings = dataclasses.replace(SETTINGS, fill="next_open")
    result = run_backtest(OVERLAY, synthetic, settings)
    first = result.trades.iloc[0]
    frame = synthetic[first["symbol"]].loc[first["date"]]
    assert first["price"] == pytest.approx(frame["open"] * frame["adj_close"] / frame["close"], rel=1e-12)
    with pytest.raises(ValueError, match="prices must be positive"):
        run_backtest(OVERLAY, _no_opens(synthetic), settings)


def test_the_tables_agree_with_the_metrics(synthetic: Frames) -> None:
    result = run_backtest(strategy_from("pair", {}), synthetic, SETTINGS)
    m = result.metrics

    assert result.equity.iloc[-1] == m["final_equity"] and len(result.equity) == m["sessions"]
    assert len(result.trades) == m["trades"] > 0
    signed = result.trades["qty"].where(result.trades["side"] == "buy", -result.trades["qty"])
    held = signed.groupby(result.trades["symbol"]).sum()
    assert held.to_dict() == result.positions.iloc[-1].to_dict()
    assert result.exposure["gross"].mean() == pytest.approx(m["avg_gross"], rel=1e-15)
    assert result.trades is result.trades  # built once, then kept
    for sym, curve in result.benchmarks.items():
        own = m["benchmarks"][sym]  # type: ignore[index]
        eq = curve.to_numpy()
        rets = metrics.daily_returns(eq)
        cash = SETTINGS.cash_rate * np.diff(curve.index.values).astype("timedelta64[D]").astype(float) / 360
        assert own["final_equity"] == eq[-1]
        assert own["sharpe"] == pytest.approx(float(metrics.sharpe(rets, cash)), rel=1e-12)
        assert own["sortino"] == pytest.approx(float(metrics.sortino(rets, cash)), rel=1e-12)
        assert own["volatility"] == pytest.approx(float(metrics.volatility(rets)), rel=1e-12)
        assert own["max_drawdown"] == pytest.approx(float(metrics.max_drawdown(eq)), rel=1e-12)
