"""A sweep's grid as arrays: each combination's settings as the loop's parameter rows, its strategy and schedule.

Combinations are itertools.product's, in its order (the last name varies fastest), numbered by their indexes
into each name's values; nothing is built per combination but the numbers, so a grid of 100,000 costs arrays,
not 100,000 BacktestSettings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bot.config import strategy_from
from bot.errors import ConfigError
from bot.research.backtest import codes
from bot.research.backtest.arrays import FillAt, FloatArray, IntArray
from bot.research.backtest.engine import BacktestSettings
from bot.research.backtest.market import FREQUENCIES
from strategies.base import Strategy

SETTING_NAMES = frozenset(f.name for f in dataclasses.fields(BacktestSettings)) - {"start", "end", "benchmarks",
                                                                                   "splits"}
PARAM_COLUMNS = {"leg_band": codes.P_LEG, "gross_band": codes.P_GROSS, "net_band": codes.P_NET,
                 "effective_band": codes.P_EFFECTIVE, "commission_bps": codes.P_COMMISSION,
                 "slippage_bps": codes.P_SLIPPAGE, "borrow_bps": codes.P_BORROW, "min_trade_usd": codes.P_MIN_TRADE,
                 "cash_reserve": codes.P_RESERVE}


@dataclass(frozen=True, slots=True)
class GridRows:
    """Every combination of a grid, one row each (V rows)."""

    keys: tuple[str, ...]
    values: tuple[tuple[object, ...], ...]  # each key's values, as given
    index: IntArray  # (len(keys), V): combination v takes values[k][index[k, v]]
    params: FloatArray  # (V, P_LEN), its P_TARGET_ROW the strategy's row, its P_DUE_ROW the frequency's
    starting_cash: FloatArray  # (V,)
    fill: FillAt
    frequencies: tuple[str, ...]  # the schedule of each due row
    strategies: tuple[Strategy, ...]  # the strategy of each target row

    @property
    def count(self) -> int:
        return int(self.params.shape[0])

    def columns(self) -> dict[str, object]:
        """The grid's columns, one row per combination, with the dtypes pandas gives a list of combination dicts."""
        out: dict[str, object] = {}
        for k, (key, values) in enumerate(zip(self.keys, self.values, strict=True)):
            distinct = pd.DataFrame({key: list(values)})[key]  # pandas' inference on the values themselves
            out[key] = distinct.array.take(self.index[k])
        return out


def grid_rows(
    grid: Mapping[str, Sequence[object]], base: BacktestSettings, strategy_name: str,
    base_params: Mapping[str, object],
) -> GridRows:
    keys = tuple(grid)
    values = tuple(tuple(grid[k]) for k in keys)
    shape = tuple(len(v) for v in values)
    index = np.indices(shape).reshape(len(keys), -1) if keys else np.zeros((0, 1), dtype=np.intp)
    count = index.shape[1]
    params = np.empty((count, codes.P_LEN))
    for name, col in PARAM_COLUMNS.items():
        params[:, col] = _column(name, keys, values, index, base, float)
    params[:, codes.P_FRACTIONAL] = _column("fractional_longs", keys, values, index, base, bool)
    cash = _column("starting_cash", keys, values, index, base, float)
    frequencies, params[:, codes.P_DUE_ROW] = _frequency_rows(keys, values, index, base)
    strategies, params[:, codes.P_TARGET_ROW] = _strategy_rows(keys, values, index, strategy_name, base_params)
    return GridRows(keys, values, index, params, cash, _fill(keys, values, base), frequencies, strategies)


def _column(name: str, keys: tuple[str, ...], values: tuple[tuple[object, ...], ...], index: IntArray,
            base: BacktestSettings, kind: type) -> np.ndarray:
    """One setting for every combination: the grid's values, or the base's, converted as variants_from does."""
    dtype = np.bool_ if kind is bool else np.float64
    if name not in keys:
        return np.full(index.shape[1], _convert(getattr(base, name), kind), dtype=dtype)
    k = keys.index(name)
    column: np.ndarray = np.array([_convert(v, kind) for v in values[k]], dtype=dtype)[index[k]]
    return column


def _convert(value: object, kind: type) -> object:
    if kind is bool:
        return value
    return np.inf if value is None else float(value)  # type: ignore[arg-type]


def _frequency_rows(keys: tuple[str, ...], values: tuple[tuple[object, ...], ...], index: IntArray,
                    base: BacktestSettings) -> tuple[tuple[str, ...], IntArray]:
    if "frequency" not in keys:
        return (base.frequency,), np.zeros(index.shape[1], dtype=np.intp)
    k = keys.index("frequency")
    for f in values[k]:
        if f not in FREQUENCIES:
            raise ConfigError(f"unknown frequency {f!r}; expected one of {', '.join(FREQUENCIES)}")
    frequencies = tuple(sorted({str(f) for f in values[k]}))
    return frequencies, np.array([frequencies.index(str(f)) for f in values[k]], dtype=np.intp)[index[k]]


def _fill(keys: tuple[str, ...], values: tuple[tuple[object, ...], ...], base: BacktestSettings) -> FillAt:
    if "fill" not in keys:
        return base.fill
    chosen = set(values[keys.index("fill")])
    if len(chosen) > 1:
        raise ConfigError("a sweep runs one fill mode at a time")
    fill: FillAt = chosen.pop()  # type: ignore[assignment]
    return fill


def _strategy_rows(
    keys: tuple[str, ...], values: tuple[tuple[object, ...], ...], index: IntArray, name: str,
    base: Mapping[str, object],
) -> tuple[tuple[Strategy, ...], IntArray]:
    """One strategy per distinct parameter set, in the order combinations first name it."""
    own = [k for k, key in enumerate(keys) if key not in SETTING_NAMES]
    shape = tuple(len(values[k]) for k in own)
    flat = np.ravel_multi_index(tuple(index[k] for k in own), shape) if own else np.zeros(index.shape[1], np.intp)
    seen: dict[tuple[tuple[str, str], ...], int] = {}
    built: list[Strategy] = []
    row_of = np.zeros(int(np.prod(shape)) if own else 1, dtype=np.intp)
    for f, at in enumerate(np.ndindex(*shape) if own else [()]):
        params = {**base, **{keys[k]: values[k][i] for k, i in zip(own, at, strict=True)}}
        key = tuple(sorted((k, repr(v)) for k, v in params.items()))
        if key not in seen:
            try:
                built.append(strategy_from(name, params))
            except ValueError as err:
                raise ConfigError(str(err)) from err
            seen[key] = len(built) - 1
        row_of[f] = seen[key]
    return tuple(built), row_of[flat]
