"""Parameter sweeps: every combination of a grid, run as rows of one kernel call per chunk."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence
from datetime import date

import numpy as np
import pandas as pd

from bot.backtest.arrays import IntArray
from bot.backtest.engine import BacktestSettings, summarize, target_path, variants_from
from bot.backtest.kernel import run_kernel
from bot.backtest.market import FREQUENCIES, build_market, due_sessions
from bot.core.domain import Symbol, Vehicle
from bot.errors import ConfigError
from strategies import build_strategy
from strategies.base import Strategy

ALIASES = {"band": "leg_band", "drift_band": "leg_band"}
SETTING_NAMES = frozenset(f.name for f in dataclasses.fields(BacktestSettings)) - {"start", "end", "benchmarks",
                                                                                   "splits"}
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
    chunk: int = 250,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """One row per combination: the grid values and the metrics, best first by `sort_by`.

    All variants run over the same sessions: those where every symbol any variant trades has a bar.
    """
    combos = expand(grid)
    setting_rows = [_settings_for(settings, c) for c in combos]
    strategies, strategy_row = _strategies_for(strategy_name, base_params, combos)
    symbols = tuple(sorted(set().union(*(s.universe for s in strategies))))
    vehicles: dict[Symbol, Vehicle] = {}
    for s in strategies:
        vehicles.update(s.vehicles)
    fills = {s.fill for s in setting_rows}
    if len(fills) > 1:
        raise ConfigError("a sweep runs one fill mode at a time")
    fill = fills.pop()
    priced = build_market(
        frames, symbols, vehicles, start=settings.start, end=settings.end,
        cash_rate=settings.cash_rate, cash_symbol=settings.cash_symbol, opens=fill == "next_open",
        splits=settings.splits,
    )
    paths = [target_path(s, frames, priced) for s in strategies]
    if any(p.ndim == 2 for p in paths):
        paths = [np.broadcast_to(p, priced.market.close.shape) for p in paths]
    targets = np.stack(paths)
    frequencies = sorted({s.frequency for s in setting_rows})
    due = np.stack([due_sessions(priced.dates, f) for f in frequencies])
    due_row = np.array([frequencies.index(s.frequency) for s in setting_rows], dtype=np.intp)
    # Chunks of one strategy and schedule hold the fewest symbols, which is what the kernel's work scales with.
    order = np.lexsort((due_row, strategy_row))
    found: dict[str, np.ndarray] = {}
    for lo in range(0, len(combos), chunk):
        rows = order[lo : lo + chunk]
        variants = variants_from([setting_rows[i] for i in rows], targets, strategy_row[rows], due, due_row[rows])
        out = run_kernel(priced.market, variants, fill=fill)
        for key, values in summarize(out, priced.dates, priced.market.cash_return).items():
            found.setdefault(key, np.full(len(combos), np.nan))[rows] = values
        if progress is not None:
            progress(min(lo + chunk, len(combos)), len(combos))
    table = pd.DataFrame(combos).assign(**found)
    table.attrs["start"], table.attrs["end"] = str(priced.dates[0].date()), str(priced.dates[-1].date())
    table.attrs["notes"] = priced.notes
    return sort_table(table, sort_by)


def sort_table(table: pd.DataFrame, sort_by: str) -> pd.DataFrame:
    if sort_by not in table.columns:
        raise ConfigError(f"cannot sort by {sort_by!r}; choose one of {', '.join(map(str, table.columns))}")
    ordered = table.sort_values(sort_by, ascending=sort_by in LOWER_IS_BETTER, na_position="last", kind="stable")
    return ordered.reset_index(drop=True)


def _settings_for(base: BacktestSettings, combo: Mapping[str, object]) -> BacktestSettings:
    changes: dict[str, object] = {k: v for k, v in combo.items() if k in SETTING_NAMES}
    if "frequency" in changes and changes["frequency"] not in FREQUENCIES:
        raise ConfigError(f"unknown frequency {changes['frequency']!r}; expected one of {', '.join(FREQUENCIES)}")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _strategies_for(
    name: str, base: Mapping[str, object], combos: Sequence[Mapping[str, object]]
) -> tuple[list[Strategy], IntArray]:
    keys: dict[tuple[tuple[str, str], ...], int] = {}
    built: list[Strategy] = []
    row = np.zeros(len(combos), dtype=np.intp)
    for i, combo in enumerate(combos):
        params = {**base, **{k: v for k, v in combo.items() if k not in SETTING_NAMES}}
        key = tuple(sorted((k, repr(v)) for k, v in params.items()))
        if key not in keys:
            try:
                built.append(build_strategy(name, params))
            except ValueError as err:
                raise ConfigError(str(err)) from err
            keys[key] = len(built) - 1
        row[i] = keys[key]
    return built, row


def sweep_dates(table: pd.DataFrame) -> tuple[date, date]:
    return date.fromisoformat(table.attrs["start"]), date.fromisoformat(table.attrs["end"])
