"""Parameter sweeps: every combination of a grid, run as rows of the loop in chunks, on every core or a cluster."""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date

import numpy as np
import pandas as pd

from bot.core.domain import Symbol, Vehicle
from bot.errors import ConfigError
from bot.research.backtest.arrays import FloatArray
from bot.research.backtest.chunks import Book, Executor, LocalThreads, books_of, chunk_size, chunks_of
from bot.research.backtest.cluster import CLUSTER_CHUNK, connect
from bot.research.backtest.codes import M_BORROW, M_COSTS, M_CURVE, M_DECISIONS, M_LEN, M_REBALANCES, M_TRADED
from bot.research.backtest.engine import BacktestSettings, target_path, variant_metrics
from bot.research.backtest.grid import SETTING_NAMES, GridRows, grid_rows
from bot.research.backtest.kernel import KernelResult
from bot.research.backtest.market import build_market, due_sessions

__all__ = ["ALIASES", "LOWER_IS_BETTER", "SETTING_NAMES", "expand", "parse_grid", "run_sweep", "sort_table",
           "sweep_dates"]

ALIASES = {"band": "leg_band", "drift_band": "leg_band"}
LOWER_IS_BETTER = frozenset({"volatility", "turnover", "costs_usd", "borrow_usd", "rebalances", "decisions"})
Progress = Callable[[int, int], None]


def parse_grid(items: Sequence[str]) -> dict[str, list[object]]:
    """["band=0.02,0.05", "frequency=quarterly,annual"] -> {"leg_band": [0.02, 0.05], ...}."""
    grid: dict[str, list[object]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not values.strip():
            raise ConfigError(f"sweep grid item {item!r} must look like name=v1,v2,...")
        grid[ALIASES.get(key.strip(), key.strip())] = [_scalar(v.strip()) for v in values.split(",") if v.strip()]
    return grid


def _scalar(text: str) -> object:
    if text.lower() in ("none", "null"):
        return None
    try:
        return float(text)
    except ValueError:
        return text


def expand(grid: Mapping[str, Sequence[object]]) -> list[dict[str, object]]:
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def run_sweep(
    frames: Mapping[str, pd.DataFrame],
    strategy_name: str,
    base_params: Mapping[str, object],
    grid: Mapping[str, Sequence[object]],
    settings: BacktestSettings,
    *,
    sort_by: str = "sharpe",
    chunk: int | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    cluster: str | None = None,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """One row per combination: the grid values and the metrics, best first by `sort_by`.

    All variants run over the same sessions: those where every symbol any variant trades has a bar. Chunks
    of `chunk` rows (by default about four per worker) run on `workers` threads (default: every core), or on
    the Dask cluster at `cluster` (pairbot[cluster]), or on any `executor`; the table is the same bit for bit.
    """
    with _collector_paused():
        return _sweep(frames, strategy_name, base_params, grid, settings, sort_by=sort_by, chunk=chunk,
                      progress=progress, workers=workers, cluster=cluster, executor=executor)


def _sweep(
    frames: Mapping[str, pd.DataFrame], strategy_name: str, base_params: Mapping[str, object],
    grid: Mapping[str, Sequence[object]], settings: BacktestSettings, *, sort_by: str, chunk: int | None,
    progress: Progress | None, workers: int | None, cluster: str | None, executor: Executor | None,
) -> pd.DataFrame:
    rows = grid_rows(grid, settings, strategy_name, base_params)
    symbols = tuple(sorted(set().union(*(s.universe for s in rows.strategies))))
    vehicles: dict[Symbol, Vehicle] = {}
    for s in rows.strategies:
        vehicles.update(s.vehicles)
    priced = build_market(
        frames, symbols, vehicles, start=settings.start, end=settings.end,
        cash_rate=settings.cash_rate, cash_symbol=settings.cash_symbol, opens=rows.fill == "next_open",
        splits=settings.splits,
    )
    due = np.stack([due_sessions(priced.dates, f) for f in rows.frequencies])
    books = books_of(priced, rows.strategies, [target_path(s, frames, priced) for s in rows.strategies], due,
                     rows.fill)
    if cluster is not None:
        with connect(cluster) as remote:
            columns, summary = _run(books, rows, remote, chunk or CLUSTER_CHUNK, progress)
    else:
        local = executor or LocalThreads(workers)
        size = chunk or chunk_size(rows.count, getattr(local, "workers", 1))
        columns, summary = _run(books, rows, local, size, progress)
    out = KernelResult(np.empty((rows.count, 0)), summary[:, M_TRADED], summary[:, M_COSTS], summary[:, M_BORROW],
                       summary[:, M_REBALANCES].astype(np.intp), summary[:, M_DECISIONS].astype(np.intp),
                       curves=summary[:, M_CURVE:])
    table = pd.DataFrame({**columns, **variant_metrics(out, priced.dates, priced.market.cash_return)},
                         index=pd.RangeIndex(rows.count))
    table.attrs["start"], table.attrs["end"] = str(priced.dates[0].date()), str(priced.dates[-1].date())
    table.attrs["notes"] = priced.notes
    return sort_table(table, sort_by)


def _run(books: Sequence[Book], rows: GridRows, executor: Executor, size: int,
         progress: Progress | None) -> tuple[dict[str, object], FloatArray]:
    """The grid's columns (built while the chunks run) and every row of the loop's summary."""
    pending = executor.submit(books, chunks_of(rows.params, rows.starting_cash, size))
    columns = rows.columns()
    summary = np.empty((rows.count, M_LEN))
    done = 0
    for chunk, result in pending:
        summary[chunk.rows] = result
        done += len(chunk.rows)
        if progress is not None:
            progress(done, rows.count)
    return columns, summary


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector waits while a sweep runs: a collection walks every object of the process
    (pandas' included) holding the GIL, milliseconds that the loop's threads wait out between chunks. The sweep's
    own objects are few and acyclic; the collector runs again, as it would have, once the sweep is done."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def sort_table(table: pd.DataFrame, sort_by: str) -> pd.DataFrame:
    if sort_by not in table.columns:
        raise ConfigError(f"cannot sort by {sort_by!r}; choose one of {', '.join(map(str, table.columns))}")
    ordered = table.sort_values(sort_by, ascending=sort_by in LOWER_IS_BETTER, na_position="last", kind="stable")
    return ordered.reset_index(drop=True)


def sweep_dates(table: pd.DataFrame) -> tuple[date, date]:
    return date.fromisoformat(table.attrs["start"]), date.fromisoformat(table.attrs["end"])
