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
from bot.backtest.market import PricedMarket, build_market, due_sessions
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
    rows: list[dict[str, object]] = []
    for batch in out.trades:
        for k, day in enumerate(batch.days):
            shares[day + lag] += batch.shares[k]
            for j, sym in enumerate(symbols):
                qty = float(batch.shares[k, j])
                if qty:
                    rows.append(_trade_row(dates[day + lag], sym, qty, batch, k, j, settings.commission_bps))
    positions = pd.DataFrame(np.cumsum(shares, axis=0), index=dates, columns=symbols)
    value = positions.to_numpy() * priced.market.close
    exposure = pd.DataFrame(
        {"gross": np.abs(value).sum(axis=1) / equity.to_numpy(), "net": value.sum(axis=1) / equity.to_numpy()},
        index=dates,
    )
    trades = pd.DataFrame(rows, columns=["date", "symbol", "side", "qty", "price", "paid", "notional", "commission"])
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
        "avg_gross": float(exposure["gross"].mean()),
        "avg_net": float(exposure["net"].mean()),
        "decisions": int(row["decisions"]),
        "max_drawdown_peak": str(dates[dd.peak].date()),
        "max_drawdown_trough": str(dates[dd.trough].date()),
        "max_drawdown_recovery": None if dd.recovery is None else str(dates[dd.recovery].date()),
        "trades": len(trades),
        "benchmarks": _benchmark_metrics(bench, priced),
    }
    return BacktestResult(name, settings, equity, positions, exposure, trades, bench, facts, notes)


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
    out: dict[str, pd.Series] = {}
    for sym in symbols:
        if sym not in frames:
            continue
        adj = frames[sym]["adj_close"].reindex(dates)
        if adj.isna().any():
            continue
        out[sym] = cash * adj / adj.iloc[0]
    return pd.DataFrame(out, index=dates)


def _benchmark_metrics(bench: pd.DataFrame, priced: PricedMarket) -> dict[str, dict[str, float]]:
    years = (priced.dates[-1] - priced.dates[0]).days / metrics.DAYS_PER_YEAR
    cash = priced.market.cash_return[1:]
    found: dict[str, dict[str, float]] = {}
    for sym in bench.columns:
        eq = bench[sym].to_numpy(np.float64)
        rets = metrics.daily_returns(eq)
        found[str(sym)] = {
            "final_equity": float(eq[-1]),
            "cagr": float(metrics.cagr(eq, years)),
            "volatility": float(metrics.volatility(rets)),
            "sharpe": float(metrics.sharpe(rets, cash)),
            "sortino": float(metrics.sortino(rets, cash)),
            "max_drawdown": float(metrics.max_drawdown(eq)),
        }
    return found
