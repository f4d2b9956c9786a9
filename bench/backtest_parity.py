"""Backtests and sweeps saved and compared bit for bit: the proof that a change to the backtester kept its results.

`--save FILE` runs the corpus (single runs of every strategy under many settings, on the real prices with and
without their splits and on the synthetic market with made-up splits; sweeps over several grids) and pickles what
each left: metrics, notes, warnings and every table for a run, the whole table for a sweep. `--compare FILE` runs
it again and compares: floats by their bytes (so -0.0, NaN payloads and the last bit count), everything else by
value. It uses only the public API, so the same script runs on the commit before a change and after it.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.adapters.history.frame import load_csv_dir, synthetic_history  # noqa: E402
from bot.adapters.history.splits import splits_beside  # noqa: E402
from bot.config import strategy_from  # noqa: E402
from bot.core.corporate import Split  # noqa: E402
from bot.core.domain import Symbol  # noqa: E402
from bot.research.backtest import BacktestSettings, run_backtest  # noqa: E402
from bot.research.backtest.sweep import run_sweep  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "prices"
SYMBOLS = ["IWM", "QQQ", "SPY", "PSQ", "TNA", "SQQQ", "UPRO", "BIL"]
SEVEN = {"weights": {"SPY": 0.4, "IWM": 0.1, "QQQ": 0.1, "PSQ": 0.1, "TNA": 0.1, "SQQQ": 0.05, "UPRO": 0.1}}
STRATEGIES: list[tuple[str, dict[str, object]]] = [
    ("pair", {}),
    ("pair", {"hedge": "inverse"}),
    ("pair", {"gross": 1.7}),
    ("pair", {"max_trailing_spread": 0.1, "lookback_days": 126}),
    ("pair", {"max_trailing_spread": -0.2, "hedge": "inverse"}),
    ("pair", {"max_trailing_spread": 0.0, "lookback_days": 21, "gross": 1.5}),
    ("pair", {"max_trailing_spread": -0.1, "min_trend_score": 2}),
    ("overlay", {}),
    ("overlay", SEVEN),
    ("replica", {}),
]
BASE = BacktestSettings(frequency="quarterly", leg_band=0.05, slippage_bps=1, borrow_bps=50, cash_rate=0.02)
SETTINGS: list[dict[str, object]] = [
    {},
    {"fill": "next_open"},
    {"leg_band": None, "frequency": "monthly"},
    {"gross_band": 0.03, "net_band": 0.02, "effective_band": 0.04, "leg_band": 0.08},
    {"gross_band": 0.01, "leg_band": None, "frequency": "annual", "fill": "next_open"},
    {"fractional_longs": True},
    {"commission_bps": 5, "slippage_bps": 10, "borrow_bps": 300, "cash_symbol": "BIL"},
    {"min_trade_usd": 1000, "cash_reserve": 0.02, "frequency": "none", "leg_band": 0.02},
    {"starting_cash": 10_000, "leg_band": 0.01},
    {"start": date(2012, 3, 1), "end": date(2019, 12, 31), "frequency": "monthly"},
]
SWEEPS: list[tuple[str, dict[str, object], dict[str, list[object]], dict[str, object]]] = [
    ("pair", {}, {"leg_band": [round(0.02 + 0.01 * i, 2) for i in range(25)],
                  "frequency": ["monthly", "quarterly", "annual", "none"], "gross": [0.5, 1.0, 1.5, 2.0, 2.5],
                  "hedge": ["short", "inverse"]}, {}),
    ("pair", {}, {"leg_band": [0.02, 0.05, None], "gross_band": [0.01, None], "net_band": [0.02, None],
                  "effective_band": [0.03, None], "hedge": ["short", "inverse"]}, {"fill": "next_open"}),
    ("pair", {}, {"leg_band": [0.03, 0.1], "fractional_longs": [True, False], "min_trade_usd": [0, 500],
                  "cash_reserve": [0, 0.05], "borrow_bps": [0, 100]}, {}),
    ("overlay", SEVEN, {"leg_band": [0.01, 0.05, 0.2], "frequency": ["monthly", "annual"],
                        "slippage_bps": [0, 5], "starting_cash": [5_000, 1_000_000]}, {}),
    ("pair", {"lookback_days": 126}, {"max_trailing_spread": [0.05, 0.1, None], "leg_band": [0.03, 0.06]},
     {"cash_symbol": "BIL", "start": date(2008, 1, 2)}),
    ("pair", {}, {"max_trailing_spread": [-0.4, -0.3, -0.2, -0.1, 0.0, 0.1], "lookback_days": [63, 252]}, {}),
]
SYNTHETIC_SPLITS = (
    Split(Symbol("QQQ"), date(2017, 5, 1), Decimal("0.2")),
    Split(Symbol("PSQ"), date(2018, 3, 3), Decimal("0.2")),
    Split(Symbol("SQQQ"), date(2016, 6, 3), Decimal("0.2")),
    Split(Symbol("IWM"), date(2021, 6, 1), Decimal("2")),
    Split(Symbol("UPRO"), date(2019, 1, 14), Decimal("2")),
)


def markets() -> Iterator[tuple[str, dict[str, pd.DataFrame], tuple[Split, ...] | None]]:
    synthetic = synthetic_history(SYMBOLS, start=date(2006, 1, 2), end=date(2024, 12, 31))
    yield "synthetic", synthetic, None
    yield "synthetic+splits", synthetic, SYNTHETIC_SPLITS
    if (REAL / "IWM.csv").is_file():
        real = load_csv_dir(REAL, SYMBOLS)
        yield "real", real, None
        yield "real+splits", real, splits_beside(REAL)


def cases() -> Iterator[tuple[str, Callable[[], dict[str, Any]]]]:
    for label, frames, splits in markets():
        for name, params in STRATEGIES:
            strategy = strategy_from(name, params)
            for i, changes in enumerate(SETTINGS):
                settings = replace(BASE, splits=splits, **changes)  # type: ignore[arg-type]
                yield f"{label} run {name} {params} #{i}", _run(strategy, frames, settings)
        for j, (name, params, grid, changes) in enumerate(SWEEPS):
            settings = replace(BASE, splits=splits, **changes)  # type: ignore[arg-type]
            yield f"{label} sweep {name} #{j}", _sweep(frames, name, params, grid, settings)


def _run(strategy: Any, frames: dict[str, pd.DataFrame], settings: BacktestSettings) -> Callable[[], dict[str, Any]]:
    def go() -> dict[str, Any]:
        try:
            r = run_backtest(strategy, frames, settings)
        except Exception as err:  # noqa: BLE001  # a refusal is a result too
            return {"error": f"{type(err).__name__}: {err}"}
        return {"metrics": r.metrics, "notes": r.notes, "warnings": r.warnings, "equity": r.equity,
                "positions": r.positions, "exposure": r.exposure, "trades": r.trades, "benchmarks": r.benchmarks}
    return go


def _sweep(frames: dict[str, pd.DataFrame], name: str, params: dict[str, object], grid: dict[str, list[object]],
           settings: BacktestSettings) -> Callable[[], dict[str, Any]]:
    def go() -> dict[str, Any]:
        try:
            table = run_sweep(frames, name, params, grid, settings, sort_by="sharpe")
        except Exception as err:  # noqa: BLE001
            return {"error": f"{type(err).__name__}: {err}"}
        return {"table": table, "attrs": dict(table.attrs)}
    return go


def differences(a: object, b: object, where: str = "") -> Iterator[str]:
    """Where two saved results differ; floats compare by their bytes."""
    if isinstance(a, pd.DataFrame | pd.Series) or isinstance(b, pd.DataFrame | pd.Series):
        yield from _frame_differences(a, b, where)
    elif isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            yield f"{where}: keys {list(a)} != {list(b)}"
        for k in a.keys() & b.keys():
            yield from differences(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b) or type(a) is not type(b):
            yield f"{where}: {type(a).__name__} of {len(a)} != {type(b).__name__} of {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from differences(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        if np.float64(a).tobytes() != np.float64(b).tobytes():
            yield f"{where}: {a!r} != {b!r}"
    elif type(a) is not type(b) or a != b:
        yield f"{where}: {a!r} ({type(a).__name__}) != {b!r} ({type(b).__name__})"


def _frame_differences(a: Any, b: Any, where: str) -> Iterator[str]:
    if type(a) is not type(b):
        yield f"{where}: {type(a).__name__} != {type(b).__name__}"
        return
    fa, fb = (x.to_frame() if isinstance(x, pd.Series) else x for x in (a, b))
    if isinstance(a, pd.Series) and a.name != b.name:
        yield f"{where}: name {a.name!r} != {b.name!r}"
    if list(fa.columns) != list(fb.columns) or not fa.index.equals(fb.index) or fa.index.name != fb.index.name \
            or fa.index.dtype != fb.index.dtype:
        yield f"{where}: labels differ"
        return
    for col in fa.columns:
        x, y = fa[col], fb[col]
        if x.dtype != y.dtype:
            yield f"{where}[{col}]: dtype {x.dtype} != {y.dtype}"
        elif x.dtype.kind in "fiub":
            xs, ys = x.to_numpy(), y.to_numpy()
            if xs.tobytes() != ys.tobytes():
                first = int(np.flatnonzero(xs.view(np.uint8).reshape(len(xs), -1) != ys.view(np.uint8).reshape(
                    len(ys), -1))[0] // xs.itemsize)
                yield f"{where}[{col}]: values differ, first at row {first}: {xs[first]!r} != {ys[first]!r}"
        elif x.tolist() != y.tolist():
            yield f"{where}[{col}]: values differ"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--save", type=Path, metavar="FILE")
    group.add_argument("--compare", type=Path, metavar="FILE")
    args = parser.parse_args()
    if not (args.save or args.compare):  # `make bench` runs every script bare: say how to use this one
        print("backtest_parity: --save FILE on the commit before a change, then --compare FILE after it")
        return 0
    t0 = time.perf_counter()
    found = {label: go() for label, go in cases()}
    took = time.perf_counter() - t0
    runs = sum(" run " in k for k in found)
    print(f"{runs} runs and {len(found) - runs} sweeps ({sum(len(v['table']) for v in found.values() if 'table' in v)}"
          f" sweep rows, {sum('error' in v for v in found.values())} refused) in {took:.1f} s")
    if args.save:
        args.save.write_bytes(pickle.dumps(found))
        print(f"saved {args.save}")
        return 0
    saved: dict[str, Any] = pickle.loads(args.compare.read_bytes())  # noqa: S301  # our own file
    problems = [f"{label}: missing" for label in saved.keys() - found.keys()]
    problems += [f"{label}: new" for label in found.keys() - saved.keys()]
    for label in saved.keys() & found.keys():
        problems += [f"{label}{d}" for d in differences(saved[label], found[label])]
    for p in problems[:40]:
        print(p)
    print(f"{len(saved)} saved results compared: {len(problems)} differences"
          f"{' (bit for bit the same)' if not problems else ''}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
