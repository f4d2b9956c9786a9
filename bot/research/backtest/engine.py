"""One backtest: a strategy over price frames with a simulated broker, through the kernel."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property

import numpy as np
import pandas as pd

from bot.core.corporate import Split
from bot.core.domain import Symbol
from bot.errors import DataError
from bot.research import metrics
from bot.research.backtest import backend
from bot.research.backtest.arrays import BoolArray, FillAt, FloatArray, IntArray
from bot.research.backtest.astraded import split_doc, splits_per_symbol
from bot.research.backtest.codes import (
    C_DOWNSIDE,
    C_DRAWDOWN,
    C_FIRST,
    C_LAST,
    C_LEN,
    C_MEAN_EQUITY,
    C_PEAK,
    C_R_SD,
    C_RECOVERY,
    C_TROUGH,
    C_X_MEAN,
    C_X_SD,
)
from bot.research.backtest.kernel import KernelResult, TradeBatch, Variants, run_rows
from bot.research.backtest.market import PER_DAY, PricedMarket, build_market, due_sessions, session_columns
from bot.research.backtest.share_checks import Rebalances, rebalances_of, share_checks
from strategies.base import MarketView, SessionWeights, Strategy

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
    fill: FillAt = "close"
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
    # The frames' splits (bot.adapters.history.splits.splits_beside): with them, whole shares are sized at as-traded
    # prices and each split converts the holdings on its date; None: the prices are used as the frames give them.
    splits: tuple[Split, ...] | None = None


@dataclass(frozen=True, slots=True)
class RunArrays:
    """What one run leaves behind, as arrays on its sessions; BacktestResult builds its tables from them.

    The traded legs stay in the kernel's trade batches: only the trade table picks them out (the metrics need
    their count alone)."""

    dates: pd.DatetimeIndex
    symbols: tuple[str, ...]
    equity: FloatArray  # (T,) at each close
    shares: FloatArray  # (T, N) held at each close
    gross: FloatArray  # (T,) fractions of equity
    net: FloatArray
    trade_batches: tuple[TradeBatch, ...]  # the kernel's, one row per session that traded
    fill_lag: int  # sessions from a decision to its fill (1 for next-open fills)
    commission_bps: float
    benchmarks: dict[str, FloatArray]  # buy-and-hold equity of each benchmark present in the data
    cash_return: FloatArray | None = None  # (T,) cash's return into each session (the first is 0)
    close: FloatArray | None = None  # (T, N) the prices the shares were held at (the market's, not copied)
    multiples: FloatArray | None = None  # (N, U) each symbol's multiple of each underlying
    underlyings: tuple[str, ...] = ()


@dataclass(frozen=True)
class BacktestResult:
    """One backtest. `metrics` is computed by the run; the tables are built from its arrays on first access
    (building them costs several times the simulation, and a sweep or a parity check reads few of them)."""

    strategy: str
    settings: BacktestSettings
    metrics: dict[str, object]
    notes: tuple[str, ...]
    arrays: RunArrays = field(repr=False, compare=False)
    warnings: tuple[str, ...] = ()  # what whole shares could not do: legs not held (share_checks.py)

    @cached_property
    def equity(self) -> pd.Series:
        return pd.Series(self.arrays.equity, index=self.arrays.dates, name="equity")

    @cached_property
    def positions(self) -> pd.DataFrame:
        """Shares held at each close."""
        return pd.DataFrame(self.arrays.shares, index=self.arrays.dates, columns=list(self.arrays.symbols))

    @cached_property
    def exposure(self) -> pd.DataFrame:
        """Gross and net at each close, fractions of equity."""
        return pd.DataFrame({"gross": self.arrays.gross, "net": self.arrays.net}, index=self.arrays.dates)

    @cached_property
    def effective(self) -> pd.DataFrame:
        """Exposure to each underlying at each close, fractions of equity: PSQ held long counts as QQQ x -1, TNA
        as IWM x 3 (empty when the run kept no prices)."""
        run = self.arrays
        if run.close is None or run.multiples is None:
            return pd.DataFrame(index=run.dates)
        with np.errstate(divide="ignore", invalid="ignore"):
            weights = run.shares * run.close / run.equity[:, None]
        return pd.DataFrame(weights @ run.multiples, index=run.dates, columns=list(run.underlyings))

    @cached_property
    def trades(self) -> pd.DataFrame:
        """date, symbol, side, qty, price, paid, notional, commission: one row per leg traded."""
        return _trade_table(self.arrays)

    @cached_property
    def benchmarks(self) -> pd.DataFrame:
        """Buy-and-hold equity of each benchmark from the same starting cash."""
        return pd.DataFrame(self.arrays.benchmarks, index=self.arrays.dates)


def run_backtest(
    strategy: Strategy, frames: Mapping[str, pd.DataFrame], settings: BacktestSettings
) -> BacktestResult:
    symbols = tuple(sorted(strategy.universe))
    start, history_note = first_decidable(strategy, frames, settings.start)
    priced = build_market(
        frames,
        symbols,
        strategy.vehicles,
        start=start,
        end=settings.end,
        cash_rate=settings.cash_rate,
        cash_symbol=settings.cash_symbol,
        opens=settings.fill == "next_open",
        splits=settings.splits,
    )
    return backtest_market(strategy, frames, priced, settings, notes=history_note + priced.notes)


def backtest_market(
    strategy: Strategy,
    frames: Mapping[str, pd.DataFrame],
    priced: PricedMarket,
    settings: BacktestSettings,
    *,
    notes: tuple[str, ...] = (),
) -> BacktestResult:
    """run_backtest on a market already aligned (build_market): targets, schedule, kernel, metrics.

    This is what a backtester that takes a ready table of prices times (bt's Backtest on a DataFrame).
    """
    targets = target_path(strategy, frames, priced)
    due = due_sessions(priced.dates, settings.frequency)
    out = run_rows(priced.market, targets[None], due[None], single_params(settings),
                   np.array([float(settings.starting_cash)]), fill=settings.fill, record=True)
    return _result(strategy.name, settings, priced, out, frames, notes, rebalances_of(priced, targets, due, out))


def single_params(settings: BacktestSettings) -> FloatArray:
    """The loop's parameter row (1, P_LEN) of one backtest: variants_from's numbers, without the columns."""
    row = [_or_inf(getattr(settings, name)) for name in PARAM_ORDER]
    return np.array([[*row, float(settings.fractional_longs), 0.0, 0.0]])


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


PARAM_ORDER = ("leg_band", "gross_band", "net_band", "effective_band", "commission_bps", "slippage_bps", "borrow_bps",
               "min_trade_usd", "cash_reserve")  # codes.py P_LEG .. P_RESERVE; then fractional, target and due rows


def _or_inf(value: float | None) -> float:
    return np.inf if value is None else float(value)


def first_decidable(
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
    if isinstance(strategy, SessionWeights):
        every = strategy.weights_by_session(closes, priced.dates, symbols)
        if every is not None:
            return every
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


def variant_metrics(out: KernelResult, dates: pd.DatetimeIndex, cash_return: FloatArray) -> dict[str, FloatArray]:
    """Metrics for every variant row of a kernel run, from the statistics the loop took of each equity curve.

    The same definitions as bot.research.metrics (tests/backtest/test_kernel_compiled.py checks them against it).
    """
    years = _years(dates)
    stats = out.curves if out.curves is not None else curve_stats(out.equity, cash_return)
    return _with_tallies(metrics_of(stats, years), out, years)


def curve_stats(equity: FloatArray, cash_return: FloatArray) -> FloatArray:
    """Each row's statistics (V, C_LEN), codes.py's C_*, in one compiled pass."""
    eq = np.ascontiguousarray(equity, dtype=np.float64)
    stats = np.empty((eq.shape[0], C_LEN))
    backend.get().curve_stats(eq, np.ascontiguousarray(cash_return, dtype=np.float64), stats)
    return stats


def curve_metrics(equity: FloatArray, years: float, cash_return: FloatArray) -> dict[str, FloatArray]:
    """final_equity .. max_drawdown of each row of `equity` (and its mean, for turnover), one compiled pass."""
    return metrics_of(curve_stats(equity, cash_return), years)


def metrics_of(stats: FloatArray, years: float) -> dict[str, FloatArray]:
    """final_equity .. max_drawdown (and the mean equity, for turnover) from curve statistics (V, C_LEN)."""
    first, last = stats[:, C_FIRST], stats[:, C_LAST]
    annual = np.sqrt(metrics.SESSIONS_PER_YEAR)
    return {
        "final_equity": last.copy(),
        "total_return": last / first - 1.0,
        "cagr": np.asarray(metrics.cagr(stats[:, [C_FIRST, C_LAST]], years), dtype=np.float64),
        "volatility": stats[:, C_R_SD] * annual,
        "sharpe": _annual_ratio(stats[:, C_X_MEAN], stats[:, C_X_SD], annual),
        "sortino": _annual_ratio(stats[:, C_X_MEAN], stats[:, C_DOWNSIDE], annual),
        "max_drawdown": stats[:, C_DRAWDOWN].copy(),
        "mean_equity": stats[:, C_MEAN_EQUITY].copy(),
    }


def row_metrics(stats: list[list[float]], years: float) -> list[dict[str, float]]:
    """metrics_of for a few rows of curve statistics (a single run's curve and its benchmarks'), one dict of
    Python floats per row: the same IEEE operations in the same order, so the same bits, without numpy's cost
    per call on arrays of one to three values. CAGR's power stays numpy's (its SIMD power can differ from libm's
    in the last bit); a zero divisor takes metrics_of itself (numpy's inf and NaN where Python would raise)."""
    growth = metrics.cagr(np.array([[r[C_FIRST], r[C_LAST]] for r in stats]), years).tolist()
    annual = float(np.sqrt(metrics.SESSIONS_PER_YEAR))
    return [_one_row(r, g, annual, years) for r, g in zip(stats, growth, strict=True)]


def _one_row(stats: list[float], growth: float, annual: float, years: float) -> dict[str, float]:
    first, last = stats[C_FIRST], stats[C_LAST]
    if first == 0:
        return {k: float(v[0]) for k, v in metrics_of(np.array([stats]), years).items()}
    return {
        "final_equity": last,
        "total_return": last / first - 1.0,
        "cagr": growth,
        "volatility": stats[C_R_SD] * annual,
        "sharpe": stats[C_X_MEAN] / stats[C_X_SD] * annual if stats[C_X_SD] > 0 else math.nan,
        "sortino": stats[C_X_MEAN] / stats[C_DOWNSIDE] * annual if stats[C_DOWNSIDE] > 0 else math.nan,
        "max_drawdown": stats[C_DRAWDOWN],
        "mean_equity": stats[C_MEAN_EQUITY],
    }


def _row_tallies(curve: dict[str, float], out: KernelResult, years: float) -> dict[str, float]:
    """_with_tallies' row 0 in Python floats: the curve metrics without the mean equity, turnover, the counts."""
    kept = {k: v for k, v in curve.items() if k != "mean_equity"}
    traded, mean_equity = float(out.traded_usd[0]), curve["mean_equity"]
    turnover = traded / mean_equity / years if mean_equity != 0 else float(
        out.traded_usd[:1] / np.array([mean_equity]) / years)  # numpy's inf or NaN
    return kept | {
        "turnover": turnover,  # metrics.annual_turnover
        "rebalances": float(out.rebalances[0]),
        "decisions": float(out.decisions[0]),
        "costs_usd": float(out.costs_usd[0]),
        "borrow_usd": float(out.borrow_usd[0]),
    }


def _annual_ratio(mean: FloatArray, spread: FloatArray, annual: float) -> FloatArray:
    """mean / spread x annual where spread > 0, else NaN (bot.research.metrics' sharpe and sortino)."""
    out = np.full(mean.shape, np.nan)
    np.divide(mean, spread, out=out, where=spread > 0)
    out *= annual
    return out


def _with_tallies(curves: dict[str, FloatArray], out: KernelResult, years: float) -> dict[str, FloatArray]:
    """The curve metrics without the mean equity, plus turnover and the kernel's counts."""
    kept = {k: v for k, v in curves.items() if k != "mean_equity"}
    return kept | {
        "turnover": out.traded_usd / curves["mean_equity"][: len(out.traded_usd)] / years,  # metrics.annual_turnover
        "rebalances": out.rebalances.astype(np.float64),
        "decisions": out.decisions.astype(np.float64),
        "costs_usd": out.costs_usd,
        "borrow_usd": out.borrow_usd,
    }


def _years(dates: pd.DatetimeIndex) -> float:
    """Calendar days from the first session to the last (Timedelta.days: floored), in years."""
    if isinstance(dates.dtype, np.dtype):
        stamps = dates.values
        per_day = PER_DAY.get(np.datetime_data(stamps.dtype))
        if per_day is not None:  # integers floor as numpy's timedelta64 // 1 day does, without its scalars
            ints = stamps.view(np.int64)
            days = (int(ints[-1]) - int(ints[0])) // per_day
        else:
            days = int((stamps[-1] - stamps[0]) // np.timedelta64(1, "D"))
        return float(days / metrics.DAYS_PER_YEAR)
    return float((dates[-1] - dates[0]).days / metrics.DAYS_PER_YEAR)


BENCHMARK_METRICS = ("final_equity", "cagr", "volatility", "sharpe", "sortino", "max_drawdown")


def _result(
    name: str,
    settings: BacktestSettings,
    priced: PricedMarket,
    out: KernelResult,
    frames: Mapping[str, pd.DataFrame],
    notes: tuple[str, ...],
    checked: Rebalances,
) -> BacktestResult:
    dates, symbols = priced.dates, priced.symbols
    if out.held is None or out.exposure is None or out.curves is None:
        raise ValueError("a single run's kernel result must be recorded, with its curve statistics")
    curve, shares, gross, net = out.equity[0], out.held[0], out.exposure[0, 0], out.exposure[0, 1]
    lag = 1 if settings.fill == "next_open" else 0
    held_benchmarks, bench_equity = benchmark_stack(frames, priced, settings.starting_cash, settings.benchmarks)
    bench = dict(zip(held_benchmarks, bench_equity, strict=True))
    # the strategy's curve was measured by the loop; the benchmarks' by the same code, in one more pass
    years = _years(dates)
    stats = out.curves.tolist()
    if held_benchmarks:
        stats += curve_stats(bench_equity, priced.market.cash_return).tolist()
    curves = row_metrics(stats, years)
    row = _row_tallies(curves[0], out, years)  # row 0: the strategy
    top, bottom, back = (int(x) for x in out.curves[0, [C_PEAK, C_TROUGH, C_RECOVERY]])
    start, end, peak, trough, recovery = _iso_days(
        dates, np.array([0, len(dates) - 1, top, bottom, bottom if back < 0 else back])
    )
    facts: dict[str, object] = {
        "strategy": name,
        "start": start,
        "end": end,
        "sessions": len(dates),
        "starting_cash": settings.starting_cash,
        **row,
        "rebalances": int(row["rebalances"]),
        "avg_gross": _mean(gross),
        "avg_net": _mean(net),
        "decisions": int(row["decisions"]),
        "max_drawdown_peak": peak,
        "max_drawdown_trough": trough,
        "max_drawdown_recovery": None if back < 0 else recovery,
        "trades": sum(int(np.count_nonzero(b.shares)) for b in out.trades),  # the legs _trade_legs picks out
        "prices_as_traded": priced.as_traded is not None,
        "splits_applied": None if priced.as_traded is None else splits_per_symbol(symbols, priced.as_traded.applied),
        "applied_splits": [] if priced.as_traded is None else [split_doc(s) for s in priced.as_traded.applied],
        "benchmarks": {
            sym: {k: curves[i][k] for k in BENCHMARK_METRICS} for i, sym in enumerate(held_benchmarks, start=1)
        },
    }
    checks = share_checks(priced, checked, shares, cash_reserve=settings.cash_reserve, leg_band=settings.leg_band,
                          fractional_longs=settings.fractional_longs)
    arrays = RunArrays(dates, symbols, curve, shares, gross, net, tuple(out.trades), lag, settings.commission_bps,
                       bench, priced.market.cash_return, priced.market.close, priced.market.multiples,
                       tuple(priced.underlyings))
    dropped = dropped_benchmarks(frames, priced, settings.benchmarks, bench)
    return BacktestResult(name, settings, facts | checks.facts(), notes + dropped + checks.notes, arrays,
                          checks.warnings)


def _mean(values: FloatArray) -> float:
    """The mean as pandas takes it for a table column: numpy's (the same pairwise sum over the same count) when
    nothing is missing, else pandas' own (it skips NaN). A NaN anywhere makes the sum NaN, so one sum both
    checks and averages; np.mean divides that same sum by the count."""
    total = float(np.add.reduce(values))
    if math.isnan(total) or not len(values):
        return float(pd.Series(values).mean()) if np.isnan(values).any() else float(np.mean(values))
    return total / len(values)


TRADE_COLUMNS = ["date", "symbol", "side", "qty", "price", "paid", "notional", "commission"]


def _trade_legs(
    batches: Sequence[TradeBatch], lag: int
) -> tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray]:
    """The nonzero legs of the kernel's trade batches in batch, session and symbol order: session index with the
    fill lag, symbol column, signed shares, price, paid."""
    kept = [b for b in batches if len(b.days)]
    if not kept:
        none, no_days = np.zeros(0), np.zeros(0, dtype=np.intp)
        return no_days, no_days, none, none, none
    if len(kept) == 1:
        days, traded, prices, paid_at = kept[0].days, kept[0].shares, kept[0].prices, kept[0].paid
    else:
        days, traded, prices, paid_at = (np.concatenate([getattr(b, f) for b in kept])
                                         for f in ("days", "shares", "prices", "paid"))
    legs = traded != 0
    k, j = np.nonzero(legs)
    return days[k] + lag, j, traded[legs], prices[legs], paid_at[legs]


def _trade_table(run: RunArrays) -> pd.DataFrame:
    day, column, signed, price, paid = _trade_legs(run.trade_batches, run.fill_lag)
    if not len(day):
        return pd.DataFrame([], columns=TRADE_COLUMNS)
    size = np.abs(signed)
    notional = size * price
    return pd.DataFrame(
        {
            "date": _iso_days(run.dates, day),
            "symbol": [run.symbols[c] for c in column.tolist()],
            "side": np.where(signed > 0, "buy", "sell").tolist(),
            "qty": size,
            "price": price,
            "paid": paid,
            "notional": notional,
            "commission": notional * run.commission_bps * 1e-4,
        },
        columns=TRADE_COLUMNS,
    )


def _iso_days(dates: pd.DatetimeIndex, days: IntArray) -> list[str]:
    """dates[d].date().isoformat() for each d in days, formatting each session once."""
    if isinstance(dates.dtype, np.dtype):
        if len(days) <= 16:  # a few: format them as they come
            few: list[str] = np.datetime_as_string(dates.values[days], unit="D").tolist()
            return few
        unique, where = np.unique(days, return_inverse=True)
        text = np.datetime_as_string(dates.values[unique], unit="D")
    else:  # tz-aware: the dates as pandas labels them
        unique, where = np.unique(days, return_inverse=True)
        text = np.array([d.date().isoformat() for d in dates[unique]])
    labels: list[str] = text[where].tolist()
    return labels


def dropped_benchmarks(frames: Mapping[str, pd.DataFrame], priced: PricedMarket, symbols: Sequence[str],
                       kept: Mapping[str, FloatArray]) -> tuple[str, ...]:
    """A note for each benchmark with data that does not cover the backtest's range (it is left out)."""
    notes = []
    for sym in symbols:
        if sym in kept or sym not in frames:
            continue
        first, last = priced.dates[0], priced.dates[-1]  # only here: two Timestamps cost more than the rest
        index = frames[sym].index
        span = f"{index[0].date()} .. {index[-1].date()}" if len(index) else "no rows"
        notes.append(f"benchmark {sym} left out: its data ({span}) does not cover {first.date()} .. {last.date()}")
    return tuple(notes)


def benchmark_curves(
    frames: Mapping[str, pd.DataFrame], priced: PricedMarket, cash: float, symbols: Sequence[str]
) -> dict[str, FloatArray]:
    """Buy-and-hold total-return equity of each benchmark present in the data, on the backtest's sessions."""
    held, equity = benchmark_stack(frames, priced, cash, symbols)
    return dict(zip(held, equity, strict=True))


def benchmark_stack(
    frames: Mapping[str, pd.DataFrame], priced: PricedMarket, cash: float, symbols: Sequence[str]
) -> tuple[tuple[str, ...], FloatArray]:
    """benchmark_curves as the symbols kept and one (B, T) array of their curves, each written into its row
    (the stack the curve statistics read, without a copy)."""
    found: list[tuple[str, FloatArray]] = []
    for sym in symbols:
        values = _benchmark_closes(frames, priced, sym)
        if values is not None:
            found.append((sym, values))
    equity = np.empty((len(found), len(priced.dates)))
    for row, (_, values) in zip(equity, found, strict=True):
        np.multiply(cash, values, out=row)
        row /= values[0]  # cash * values / values[0], into place
    return tuple(sym for sym, _ in found), equity


def _benchmark_closes(frames: Mapping[str, pd.DataFrame], priced: PricedMarket, sym: str) -> FloatArray | None:
    """A benchmark's adjusted closes on the sessions; None when it has no data or a session is missing."""
    if sym in priced.symbols:  # the market holds its adjusted closes already
        values = priced.total_return_close[:, priced.symbols.index(sym)]
    elif sym not in frames:
        return None
    else:
        fast = session_columns(frames[sym], priced.dates, ("adj_close",))
        values = fast[0] if fast is not None else frames[sym]["adj_close"].reindex(priced.dates).to_numpy(np.float64)
    if np.isnan(values).any():
        return None
    return values
