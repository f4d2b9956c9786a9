"""One backtest: a strategy over price frames with a simulated broker, through the kernel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd

from bot import metrics
from bot.backtest import backend
from bot.backtest.arrays import BoolArray, Fill, FloatArray, IntArray
from bot.backtest.kernel import KernelResult, TradeBatch, Variants, run_kernel
from bot.backtest.market import PricedMarket, build_market, due_sessions, session_columns
from bot.core.domain import Symbol
from bot.errors import DataError
from strategies.base import MarketView, Strategy

BENCHMARKS = ("SPY", "IWM")


@dataclass(frozen=True, slots=True)
class BacktestSettings:
    """The simulated broker and the decision rule. Rates and bands are fractions; costs in bps."""

    start: date | None = None
    end: date | None = None
    frequency: str = "quarterly"  # monthly | quarterly | annual | none
    leg_band: float | None = 0.05
    gross_band: float | None = None
    net_band: float | None = None
    effective_band: float | None = None
    fill: Fill = "close"
    commission_bps: float = 0.0
    slippage_bps: float = 0.0
    borrow_bps: float = 0.0
    cash_rate: float = 0.0  # annual, act/360
    cash_symbol: str | None = None  # e.g. "BIL": cash earns the fund's total return
    starting_cash: float = 100_000.0
    min_trade_usd: float = 100.0
    cash_reserve: float = 0.0
    fractional_longs: bool = False  # long targets in 1e-9 shares (shorts stay whole), as the planner allows
    benchmarks: tuple[str, ...] = BENCHMARKS


@dataclass(frozen=True, slots=True)
class BacktestResult:
    strategy: str
    settings: BacktestSettings
    equity: pd.Series
    positions: pd.DataFrame  # shares held at each close
    exposure: pd.DataFrame  # gross and net at each close, fractions of equity
    trades: pd.DataFrame  # date, symbol, side, qty, price, paid, notional, commission
    benchmarks: pd.DataFrame  # buy-and-hold equity of each benchmark from the same starting cash
    metrics: dict[str, object]
    notes: tuple[str, ...] = field(default=())


def run_backtest(
    strategy: Strategy, frames: Mapping[str, pd.DataFrame], settings: BacktestSettings
) -> BacktestResult:
    symbols = tuple(sorted(strategy.universe))
    start, history_note = _first_decidable(strategy, frames, settings.start)
    priced = build_market(
        frames,
        symbols,
        strategy.vehicles,
        start=start,
        end=settings.end,
        cash_rate=settings.cash_rate,
        cash_symbol=settings.cash_symbol,
    )
    targets = target_path(strategy, frames, priced)
    variants = single_variant(settings, targets[None], due_sessions(priced.dates, settings.frequency)[None])
    out = run_kernel(priced.market, variants, fill=settings.fill, record=True)
    return _result(strategy.name, settings, priced, out, frames, history_note + priced.notes)


def single_variant(settings: BacktestSettings, targets: FloatArray, due: BoolArray) -> Variants:
    return variants_from([settings], targets, np.zeros(1, dtype=np.intp), due, np.zeros(1, dtype=np.intp))


def variants_from(
    settings: Sequence[BacktestSettings],
    targets: FloatArray,
    target_row: IntArray,
    due: BoolArray,
    due_row: IntArray,
) -> Variants:
    def col(name: str) -> FloatArray:
        return np.array([_or_inf(getattr(s, name)) for s in settings], dtype=np.float64)

    return Variants(
        targets=targets,
        target_row=target_row,
        due=due,
        due_row=due_row,
        leg_band=col("leg_band"),
        gross_band=col("gross_band"),
        net_band=col("net_band"),
        effective_band=col("effective_band"),
        commission_bps=col("commission_bps"),
        slippage_bps=col("slippage_bps"),
        borrow_bps=col("borrow_bps"),
        min_trade_usd=col("min_trade_usd"),
        cash_reserve=col("cash_reserve"),
        starting_cash=col("starting_cash"),
        fractional_longs=np.array([s.fractional_longs for s in settings], dtype=np.bool_),
    )


def _or_inf(value: float | None) -> float:
    return np.inf if value is None else float(value)


def _first_decidable(
    strategy: Strategy, frames: Mapping[str, pd.DataFrame], start: date | None
) -> tuple[date | None, tuple[str, ...]]:
    """A strategy that reads history can first decide once it has needs_history_days closes."""
    need = strategy.needs_history_days
    if need <= 0:
        return start, ()
    closes = history_closes(strategy, frames).dropna()
    if len(closes) < need:
        raise DataError(f"{strategy.name} needs {need} sessions of history, the data has {len(closes)}")
    earliest = closes.index[need - 1].date()
    if start is None or start < earliest:
        return earliest, (f"start moved to {earliest}: {strategy.name} needs {need} sessions of history",)
    return start, ()


def history_closes(strategy: Strategy, frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    wanted = sorted(set(strategy.universe) | set(getattr(strategy, "history_symbols", frozenset())))
    missing = [s for s in wanted if s not in frames]
    if missing:
        raise DataError(f"no price history for {', '.join(missing)}")
    return pd.DataFrame({s: frames[s]["adj_close"] for s in wanted})


def target_path(strategy: Strategy, frames: Mapping[str, pd.DataFrame], priced: PricedMarket) -> FloatArray:
    """Target weights, (N,) when the strategy reads no history, else one row per session (T, N)."""
    symbols, close = priced.symbols, priced.market.close
    if strategy.needs_history_days <= 0:
        return _as_row(strategy, priced.dates[0].date(), symbols, close[0], None)
    closes = history_closes(strategy, frames).dropna()
    positions = closes.index.searchsorted(priced.dates, side="right")
    need = strategy.needs_history_days
    rows = [
        _as_row(strategy, d.date(), symbols, close[t], closes.iloc[max(0, p - need) : p])
        for t, (d, p) in enumerate(zip(priced.dates, positions, strict=True))
    ]
    return np.vstack(rows)


def _as_row(
    strategy: Strategy, as_of: date, symbols: Sequence[Symbol], prices: FloatArray, closes: pd.DataFrame | None
) -> FloatArray:
    marks = {s: Decimal(repr(float(p))) for s, p in zip(symbols, prices, strict=True)}
    weights = strategy.target_weights(MarketView(as_of, marks, closes)).weights
    stray = sorted(set(weights) - set(symbols))
    if stray:
        raise DataError(f"{strategy.name} wants {', '.join(stray)} outside its universe")
    return np.array([float(weights.get(s, Decimal(0))) for s in symbols])


def summarize(out: KernelResult, dates: pd.DatetimeIndex, cash_return: FloatArray) -> dict[str, FloatArray]:
    """Metrics for every variant row of a kernel run, in one compiled pass over each equity curve.

    The same definitions as bot.metrics (tests/backtest/test_metrics_fast.py checks them against it).
    """
    years = (dates[-1] - dates[0]).days / metrics.DAYS_PER_YEAR
    eq = np.ascontiguousarray(out.equity, dtype=np.float64)
    stats = np.empty((eq.shape[0], 7))
    backend.get().curve_stats(eq, np.ascontiguousarray(cash_return, dtype=np.float64), stats)
    mean_equity, r_mean, r_sd, x_mean, x_sd, downside, drawdown = stats.T
    annual = np.sqrt(metrics.SESSIONS_PER_YEAR)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(x_sd > 0, x_mean / x_sd * annual, np.nan)
        sortino = np.where(downside > 0, x_mean / downside * annual, np.nan)
    return {
        "final_equity": eq[:, -1].copy(),
        "total_return": eq[:, -1] / eq[:, 0] - 1.0,
        "cagr": np.asarray(metrics.cagr(eq[:, [0, -1]], years), dtype=np.float64),
        "volatility": r_sd * annual,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": drawdown.copy(),
        "turnover": np.asarray(metrics.annual_turnover(out.traded_usd, mean_equity, years), dtype=np.float64),
        "rebalances": out.rebalances.astype(np.float64),
        "decisions": out.decisions.astype(np.float64),
        "costs_usd": out.costs_usd,
        "borrow_usd": out.borrow_usd,
    }


def _result(
    name: str,
    settings: BacktestSettings,
    priced: PricedMarket,
    out: KernelResult,
    frames: Mapping[str, pd.DataFrame],
    notes: tuple[str, ...],
) -> BacktestResult:
    dates, symbols = priced.dates, list(priced.symbols)
    equity = pd.Series(out.equity[0], index=dates, name="equity")
    shares = np.zeros((len(dates), len(symbols)))
    lag = 1 if settings.fill == "next_open" else 0
    trades = _trades(out.trades, dates, symbols, shares, lag, settings.commission_bps)
    positions = pd.DataFrame(np.cumsum(shares, axis=0), index=dates, columns=symbols)
    value = positions.to_numpy() * priced.market.close
    gross, net = _row_sum(np.abs(value)) / out.equity[0], _row_sum(value) / out.equity[0]
    exposure = pd.DataFrame({"gross": gross, "net": net}, index=dates)
    bench = benchmark_curves(frames, dates, settings.starting_cash, settings.benchmarks)
    row = {k: float(v[0]) for k, v in summarize(out, dates, priced.market.cash_return).items()}
    dd = metrics.worst_drawdown(out.equity[0])
    facts: dict[str, object] = {
        "strategy": name,
        "start": str(dates[0].date()),
        "end": str(dates[-1].date()),
        "sessions": len(dates),
        "starting_cash": settings.starting_cash,
        **row,
        "rebalances": int(row["rebalances"]),
        "avg_gross": _mean(gross, exposure, "gross"),
        "avg_net": _mean(net, exposure, "net"),
        "decisions": int(row["decisions"]),
        "max_drawdown_peak": str(dates[dd.peak].date()),
        "max_drawdown_trough": str(dates[dd.trough].date()),
        "max_drawdown_recovery": None if dd.recovery is None else str(dates[dd.recovery].date()),
        "trades": len(trades),
        "benchmarks": _benchmark_metrics(bench, priced),
    }
    return BacktestResult(name, settings, equity, positions, exposure, trades, bench, facts, notes)


def _row_sum(a: FloatArray) -> FloatArray:
    """a.sum(axis=1), bit for bit: numpy adds a row shorter than 8 left to right, as this does column by column."""
    if not 2 <= a.shape[1] < 8:
        return np.asarray(a.sum(axis=1))
    total = a[:, 0] + a[:, 1]
    for j in range(2, a.shape[1]):
        total += a[:, j]
    return total


def _mean(values: FloatArray, frame: pd.DataFrame, column: str) -> float:
    """frame[column].mean(), values being that column: numpy's mean (the same pairwise sum over the same count)
    when nothing is missing, else pandas' own (it skips NaN)."""
    return float(frame[column].mean()) if np.isnan(values).any() else float(np.mean(values))


TRADE_COLUMNS = ["date", "symbol", "side", "qty", "price", "paid", "notional", "commission"]


def _trades(
    batches: Sequence[TradeBatch],
    dates: pd.DatetimeIndex,
    symbols: Sequence[str],
    shares: FloatArray,
    lag: int,
    commission_bps: float,
) -> pd.DataFrame:
    """The trade list, one row per nonzero leg in batch, session and symbol order; adds each day's shares."""
    if not isinstance(dates.dtype, np.dtype):  # tz-aware: the dates as pandas labels them
        rows: list[dict[str, object]] = []
        for batch in batches:
            for i, day in enumerate(batch.days):
                shares[day + lag] += batch.shares[i]
                for c, sym in enumerate(symbols):
                    qty = float(batch.shares[i, c])
                    if qty:
                        rows.append(_trade_row(dates[day + lag], sym, qty, batch, i, c, commission_bps))
        return pd.DataFrame(rows, columns=TRADE_COLUMNS)
    kept = [b for b in batches if len(b.days)]
    if not kept:
        return pd.DataFrame([], columns=TRADE_COLUMNS)
    days = np.concatenate([b.days for b in kept]) + lag
    traded = np.concatenate([b.shares for b in kept])
    np.add.at(shares, days, traded)  # in order, as `shares[day] += row` would
    k, j = np.nonzero(traded)
    if not len(k):
        return pd.DataFrame([], columns=TRADE_COLUMNS)
    signed = traded[k, j]
    price = np.concatenate([b.prices for b in kept])[k, j]
    paid = np.concatenate([b.paid for b in kept])[k, j]
    size = np.abs(signed)
    notional = size * price
    return pd.DataFrame(
        {
            "date": _iso_days(dates, days[k]),
            "symbol": [symbols[b] for b in j.tolist()],
            "side": np.where(signed > 0, "buy", "sell").tolist(),
            "qty": size,
            "price": price,
            "paid": paid,
            "notional": notional,
            "commission": notional * commission_bps * 1e-4,
        },
        columns=TRADE_COLUMNS,
    )


def _iso_days(dates: pd.DatetimeIndex, days: IntArray) -> list[str]:
    """dates[d].date().isoformat() for each d in days (tz-naive dates), formatting each session once."""
    unique, where = np.unique(days, return_inverse=True)
    text: list[str] = np.datetime_as_string(dates.values[unique], unit="D")[where].tolist()
    return text


def _trade_row(
    when: pd.Timestamp, sym: str, qty: float, batch: TradeBatch, k: int, j: int, commission_bps: float
) -> dict[str, object]:
    price = float(batch.prices[k, j])
    notional = abs(qty) * price
    return {
        "date": when.date().isoformat(),
        "symbol": sym,
        "side": "buy" if qty > 0 else "sell",
        "qty": abs(qty),
        "price": price,
        "paid": float(batch.paid[k, j]),
        "notional": notional,
        "commission": notional * commission_bps * 1e-4,
    }


def benchmark_curves(
    frames: Mapping[str, pd.DataFrame], dates: pd.DatetimeIndex, cash: float, symbols: Sequence[str]
) -> pd.DataFrame:
    """Buy-and-hold total-return equity of each benchmark present in the data, on the backtest's sessions."""
    out: dict[str, pd.Series | FloatArray] = {}
    for sym in symbols:
        if sym not in frames:
            continue
        fast = session_columns(frames[sym], dates, ("adj_close",))
        if fast is not None:
            values = fast[0]
            if np.isnan(values).any():
                continue
            out[sym] = cash * values / values[0]
            continue
        adj = frames[sym]["adj_close"].reindex(dates)
        if adj.isna().any():
            continue
        out[sym] = cash * adj / adj.iloc[0]
    return pd.DataFrame(out, index=dates)


def _benchmark_metrics(bench: pd.DataFrame, priced: PricedMarket) -> dict[str, dict[str, float]]:
    """bot.metrics of each benchmark curve, all curves at once (a row each: the same per-row arithmetic)."""
    years = (priced.dates[-1] - priced.dates[0]).days / metrics.DAYS_PER_YEAR
    cash = priced.market.cash_return[1:]
    if not len(bench.columns):
        return {}
    eq = np.ascontiguousarray(bench.to_numpy(np.float64).T)
    rets = metrics.daily_returns(eq)
    columns = {
        "final_equity": eq[:, -1],
        "cagr": metrics.cagr(eq, years),
        "volatility": metrics.volatility(rets),
        "sharpe": metrics.sharpe(rets, cash),
        "sortino": metrics.sortino(rets, cash),
        "max_drawdown": metrics.max_drawdown(eq),
    }
    return {str(sym): {k: float(v[i]) for k, v in columns.items()} for i, sym in enumerate(bench.columns)}
