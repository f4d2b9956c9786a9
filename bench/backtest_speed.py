"""Backtest speed: one long backtest, a 1,000-variant sweep (time and peak memory), and bt when installed.

Uses /work/shared/data/prices when present, else the synthetic market; says which. Prints measured
numbers only; timings are the best of several runs (the machine may be shared).
"""

from __future__ import annotations

import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.backtest import BacktestSettings, run_backtest  # noqa: E402
from bot.backtest.engine import single_variant, target_path  # noqa: E402
from bot.backtest.kernel import run_kernel  # noqa: E402
from bot.backtest.market import build_market, due_sessions  # noqa: E402
from bot.backtest.sweep import run_sweep  # noqa: E402
from bot.history.frame import load_csv_dir, synthetic_history  # noqa: E402
from strategies import build_strategy  # noqa: E402

REAL = Path(os.environ.get("PAIRBOT_PRICES", "/work/shared/data/prices"))
SEVEN = ["IWM", "QQQ", "SPY", "PSQ", "TNA", "SQQQ", "UPRO"]
SEVEN_WEIGHTS: dict[str, object] = {
    "weights": {"SPY": 0.4, "IWM": 0.1, "QQQ": 0.1, "PSQ": 0.1, "TNA": 0.1, "SQQQ": 0.05, "UPRO": 0.1}
}
SETTINGS = BacktestSettings(frequency="quarterly", leg_band=0.05, slippage_bps=1, borrow_bps=50, cash_rate=0.02)
GRID = {
    "leg_band": [round(0.02 + 0.01 * i, 2) for i in range(25)],
    "frequency": ["monthly", "quarterly", "annual", "none"],
    "gross": [0.5, 1.0, 1.5, 2.0, 2.5],
    "hedge": ["short", "inverse"],
}


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load() -> tuple[dict[str, pd.DataFrame], str]:
    if (REAL / "IWM.csv").is_file():
        return load_csv_dir(REAL, [*SEVEN, "BIL"]), f"REAL data from {REAL}"
    return synthetic_history([*SEVEN, "BIL"], start=date(2000, 5, 26), end=date(2025, 9, 26)), "SYNTHETIC data"


def single(frames: dict[str, pd.DataFrame], name: str, params: dict[str, object]) -> None:
    strategy = build_strategy(name, params)
    symbols = tuple(sorted(strategy.universe))
    priced = build_market(frames, symbols, strategy.vehicles, start=None, end=None, cash_rate=0.02)
    variants = single_variant(SETTINGS, target_path(strategy, frames, priced)[None],
                              due_sessions(priced.dates, "quarterly")[None])
    kernel = best_ms(lambda: run_kernel(priced.market, variants), 15)
    full = best_ms(lambda: run_backtest(strategy, frames, SETTINGS), 5)
    out = run_kernel(priced.market, variants)
    span = f"{priced.dates[0].date()}..{priced.dates[-1].date()}"
    print(f"  {name:<8} {len(symbols)} assets {span} ({len(priced.dates)} sessions, {int(out.rebalances[0])} "
          f"rebalances): kernel {kernel:.1f} ms, end to end (frames -> result) {full:.1f} ms")


def sweep(frames: dict[str, pd.DataFrame]) -> None:
    base = rss_mb()
    t0 = time.perf_counter()
    table = run_sweep(frames, "pair", {}, GRID, SETTINGS, sort_by="sharpe")
    first = time.perf_counter() - t0
    again = best_ms(lambda: run_sweep(frames, "pair", {}, GRID, SETTINGS, sort_by="sharpe"), 2) / 1e3
    tracemalloc.start()
    run_sweep(frames, "pair", {}, GRID, SETTINGS, sort_by="sharpe")
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  {len(table)} variants (band x frequency x gross x hedge) over {table.attrs['start']}.."
          f"{table.attrs['end']}: {min(first, again):.2f} s (first run {first:.2f} s); "
          f"mean {table['rebalances'].mean():.0f} rebalances per variant")
    print(f"  peak RSS of the process {rss_mb():.0f} MB (before the sweep {base:.0f} MB); "
          f"peak traced allocations during a sweep {traced / 2**20:.0f} MB")


def bt_reference(frames: dict[str, pd.DataFrame]) -> None:
    try:
        import bt  # type: ignore[import-not-found]
    except ImportError:
        print("  bt is not installed: no bt figure (pip install bt to compare)")
        return
    prices = pd.DataFrame({s: frames[s]["adj_close"] for s in ("IWM", "QQQ")}).dropna()
    weights = {"IWM": 0.5, "QQQ": -0.5}
    strat = bt.Strategy("pair", [bt.algos.RunQuarterly(), bt.algos.SelectAll(),
                                 bt.algos.WeighSpecified(**weights), bt.algos.Rebalance()])

    def go() -> object:
        return bt.run(bt.Backtest(strat, prices, initial_capital=100_000.0, progress_bar=False))

    ms = best_ms(go, 3)
    res = go()
    final = float(res.prices.iloc[-1, 0]) / 100 * 100_000  # type: ignore[attr-defined]
    ours = run_backtest(build_strategy("pair", {}), frames, BacktestSettings(leg_band=None, min_trade_usd=0))
    print(f"  bt {bt.__version__}: quarterly 50/50 IWM/QQQ pair over {len(prices)} sessions in {ms:.0f} ms "
          f"(final equity {final:,.0f}); ours calendar-only, no costs: {ours.metrics['final_equity']:,.0f}; "
          f"1,000 bt runs would take about {ms:.0f} s")


def main() -> None:
    frames, label = load()
    print(f"backtest speed | {label} | {os.cpu_count()} cpus | numpy, no numba")
    print("one backtest, quarterly + 5pp band, costs on:")
    single(frames, "pair", {})
    single(frames, "overlay", SEVEN_WEIGHTS)
    if "REAL" in label:
        print("  (real 7-asset history starts 2010 with SQQQ; 25 years of all 7 on the SYNTHETIC market:)")
        synthetic = synthetic_history([*SEVEN, "BIL"], start=date(2000, 5, 26), end=date(2025, 9, 26))
        single(synthetic, "overlay", SEVEN_WEIGHTS)
    print("sweep:")
    sweep(frames)
    print("bt:")
    bt_reference(frames)


if __name__ == "__main__":
    main()
