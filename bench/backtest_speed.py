"""Backtest speed: one long backtest, a 1,000-variant sweep (time and peak memory), and bt when installed.

Uses ../shared/data/prices (beside the repo) when present, else the synthetic market; says which. Prints measured
numbers only: best and median of several runs (the machine may be shared). The loop runs on the backend
bot/backtest/backend.py picks (C via ctypes, else plain Python; $PAIRBOT_LOOP=c|python forces one); the header says
which. Its compile is timed apart, in fresh processes: once with an empty cache directory (a cold compile)
and once with the project's cache (what every later process pays). Peak RSS is that of a fresh process that
only loads the prices and runs the sweep (`--sweep-rss`; it prints VmHWM, which equals ru_maxrss when run from
a shell), next to one that loads them and imports the same (`--idle-rss`), for each backend.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.backtest import BacktestResult, BacktestSettings, backend, run_backtest  # noqa: E402
from bot.backtest.engine import backtest_market, single_variant, target_path  # noqa: E402
from bot.backtest.kernel import run_kernel  # noqa: E402
from bot.backtest.market import build_market, due_sessions  # noqa: E402
from bot.backtest.sweep import run_sweep  # noqa: E402
from bot.core.corporate import Split  # noqa: E402
from bot.history.frame import load_csv_dir, synthetic_history  # noqa: E402
from bot.history.splits import splits_beside  # noqa: E402
from strategies import build_strategy  # noqa: E402

REAL = Path(os.environ.get("PAIRBOT_PRICES", Path(__file__).resolve().parents[2] / "shared" / "data" / "prices"))
SEVEN = ["IWM", "QQQ", "SPY", "PSQ", "TNA", "SQQQ", "UPRO"]
SEVEN_WEIGHTS: dict[str, object] = {
    "weights": {"SPY": 0.4, "IWM": 0.1, "QQQ": 0.1, "PSQ": 0.1, "TNA": 0.1, "SQQQ": 0.05, "UPRO": 0.1}
}
SETTINGS = BacktestSettings(frequency="quarterly", leg_band=0.05, slippage_bps=1, borrow_bps=50, cash_rate=0.02)
GRID: dict[str, list[object]] = {
    "leg_band": [round(0.02 + 0.01 * i, 2) for i in range(25)],
    "frequency": ["monthly", "quarterly", "annual", "none"],
    "gross": [0.5, 1.0, 1.5, 2.0, 2.5],
    "hedge": ["short", "inverse"],
}


def timings_ms(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(best, median) of `repeat` runs, in ms."""
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1e3)
    return min(runs), statistics.median(runs)


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    return timings_ms(fn, repeat)[0]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load() -> tuple[dict[str, pd.DataFrame], str]:
    if (REAL / "IWM.csv").is_file():
        return load_csv_dir(REAL, [*SEVEN, "BIL"]), f"REAL data from {REAL}"
    return synthetic_history([*SEVEN, "BIL"], start=date(2000, 5, 26), end=date(2025, 9, 26)), "SYNTHETIC data"


def real_splits() -> tuple[Split, ...] | None:
    """The splits.csv beside the real prices (None without it, or on the synthetic market)."""
    return splits_beside(REAL) if (REAL / "IWM.csv").is_file() else None


def single(frames: dict[str, pd.DataFrame], name: str, params: dict[str, object],
           splits: tuple[Split, ...] | None = None) -> None:
    strategy = build_strategy(name, params)
    symbols = tuple(sorted(strategy.universe))
    settings = replace(SETTINGS, splits=splits)
    priced = build_market(frames, symbols, strategy.vehicles, start=None, end=None, cash_rate=0.02, opens=False,
                          splits=splits)
    variants = single_variant(settings, target_path(strategy, frames, priced)[None],
                              due_sessions(priced.dates, "quarterly")[None])
    kernel = timings_ms(lambda: run_kernel(priced.market, variants, record=True), 51)
    aligned = timings_ms(lambda: backtest_market(strategy, frames, priced, settings), 51)
    full = timings_ms(lambda: run_backtest(strategy, frames, settings), 51)
    tables = timings_ms(lambda: _with_tables(run_backtest(strategy, frames, settings)), 21)
    out = run_kernel(priced.market, variants)
    span = f"{priced.dates[0].date()}..{priced.dates[-1].date()}"
    basis = "as traded, splits.csv" if splits is not None else "split-adjusted"
    print(f"  {name:<8} {len(symbols)} assets {span} ({len(priced.dates)} sessions, {int(out.rebalances[0])} "
          f"rebalances; prices {basis}, {priced.market.splits.count} splits in range):")
    print(f"    loop {kernel[0]:.2f} ms best / {kernel[1]:.2f} median of 51; aligned prices -> result and metrics "
          f"(what bt's figure times) {aligned[0]:.2f} ms best / {aligned[1]:.2f} median of 51")
    print(f"    end to end (frames -> result and metrics) {full[0]:.2f} ms best / {full[1]:.2f} median of 51; the same "
          f"and then every table built (equity, positions, exposure, trades, benchmarks) {tables[0]:.2f} ms best / "
          f"{tables[1]:.2f} median of 21")


def _with_tables(result: BacktestResult) -> None:
    for table in (result.equity, result.positions, result.exposure, result.trades, result.benchmarks):
        assert len(table)


def jit_compile(name: str) -> None:
    """First kernel call in a fresh process, cold (empty cache dir) and warm (project cache), minus a later call."""
    probe = ("import time, numpy as np; from bot.backtest.kernel import *; from bot.backtest import backend\n"
             "curve_stats = lambda *a: backend.get().curve_stats(*a)\n"
             "m = Market(np.ones((3, 1)), np.ones((3, 1)), np.zeros(3), np.ones(3), np.ones((1, 1)))\n"
             "f = lambda b: np.full(1, b); i = np.zeros(1, dtype=np.intp)\n"
             "v = Variants(np.ones((1, 1)), i, np.ones((1, 3), bool), i, *[f(0.05)] + [f(np.inf)] * 3, *[f(0.0)] * 3,"
             " f(100.0), f(0.0), f(1e5), np.zeros(1, bool))\n"
             "def go(): run_kernel(m, v, record=True); curve_stats(np.ones((1, 3)), np.zeros(3), np.empty((1, 7)))\n"
             "t0 = time.perf_counter(); go(); t1 = time.perf_counter(); go(); t2 = time.perf_counter()\n"
             "print((t1 - t0) - (t2 - t1))")
    root = str(Path(__file__).resolve().parents[1])
    env = {"PAIRBOT_LOOP": name}
    with tempfile.TemporaryDirectory() as empty:
        cold = _run(probe, {**env, "PAIRBOT_LOOP_CACHE": empty}, root)
    warm = _run(probe, env, root)
    how = "cc -O2 of loop.c" if name == "c" else "no compile"
    print(f"  {name} loop ({how}): cold compile (empty cache) {float(cold) * 1e3:.0f} ms; load from the on-disk "
          f"cache (__pycache__) {float(warm) * 1e3:.0f} ms; each once per process, not in the figures above")


def _run(code: str, env: dict[str, str], cwd: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, cwd=cwd, capture_output=True,
                          text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def sweep(frames: dict[str, pd.DataFrame], name: str, splits: tuple[Split, ...] | None = None) -> None:
    settings = replace(SETTINGS, splits=splits)
    t0 = time.perf_counter()
    table = run_sweep(frames, "pair", {}, GRID, settings, sort_by="sharpe")
    first = time.perf_counter() - t0
    best, median = timings_ms(lambda: run_sweep(frames, "pair", {}, GRID, settings, sort_by="sharpe"), 9)
    basis = "as traded (splits.csv)" if splits is not None else "split-adjusted"
    print(f"  {name} loop, prices {basis}: {len(table)} variants (band x frequency x gross x hedge) over "
          f"{table.attrs['start']}..{table.attrs['end']}: {best / 1e3:.3f} s best / {median / 1e3:.3f} s median of 9 "
          f"(first run in this process {first:.3f} s); mean {table['rebalances'].mean():.0f} rebalances per variant")

def sweep_rss(name: str) -> None:
    me, env = [sys.executable, __file__], {**os.environ, "PAIRBOT_LOOP": name}
    swept = subprocess.run([*me, "--sweep-rss"], capture_output=True, text=True, check=True, env=env).stdout.split()
    idle = subprocess.run([*me, "--idle-rss"], capture_output=True, text=True, check=True, env=env).stdout.split()
    print(f"  {swept[2]} loop: peak RSS (VmHWM) of a fresh process that loads the prices and runs the sweep once: "
          f"{float(swept[0]):.0f} MB; the same process without the sweep (imports + prices only): "
          f"{float(idle[0]):.0f} MB, of which libllvmlite.so (numba's LLVM, clean read-only file pages) "
          f"{float(idle[1]):.0f} MB; numba imported: {swept[3]}")


def _peak_mb() -> float:
    """This process's peak RSS: VmHWM, the high-water mark of its own address space.

    ru_maxrss would do in a process started from a shell, but a child forked from this (big) benchmark
    inherits the parent's figure across fork + exec on Linux; VmHWM starts afresh at exec.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return rss_mb()


def _llvmlite_mb() -> float:
    """Resident size of numba's LLVM library mapping, from /proc/self/smaps (0 where that is unavailable)."""
    total, inside = 0, False
    try:
        with open("/proc/self/smaps") as maps:
            for line in maps:
                if line[:1] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
                    inside = line.rstrip().endswith("libllvmlite.so")
                elif inside and line.startswith("Rss:"):
                    total += int(line.split()[1])
    except OSError:
        return 0.0
    return total / 1024


def bt_reference(frames: dict[str, pd.DataFrame]) -> None:
    try:
        import bt  # type: ignore[import-not-found,unused-ignore]
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
    pair, same = build_strategy("pair", {}), BacktestSettings(leg_band=None, min_trade_usd=0)
    ours = run_backtest(pair, frames, same)
    ours_ms = best_ms(lambda: run_backtest(pair, frames, same), 21)
    print(f"  bt {bt.__version__}: quarterly 50/50 IWM/QQQ pair over {len(prices)} sessions in {ms:.0f} ms best of 3 "
          f"(final equity {final:,.0f}); ours on the same spec (calendar only, no costs), frames -> result: "
          f"{ours_ms:.2f} ms best of 21 (final equity {ours.metrics['final_equity']:,.0f}): bt / ours = "
          f"{ms / ours_ms:,.0f}x; 1,000 bt runs would take about {ms:.0f} s")


def main() -> None:
    if "--sweep-rss" in sys.argv or "--idle-rss" in sys.argv:
        frames, _ = load()
        loop = backend.get()  # the idle process imports (and loads) what the sweep does
        if "--sweep-rss" in sys.argv:
            run_sweep(frames, "pair", {}, GRID, SETTINGS, sort_by="sharpe")
        print(_peak_mb(), _llvmlite_mb(), loop.name, "numba" in sys.modules)
        return

    frames, label = load()
    name = backend.get().name
    where = getattr(backend.get(), "path", None)
    print(f"backtest speed | {label} | {os.cpu_count()} cpus | loop backend: {name}"
          f"{f' ({where})' if where else ''} | numpy {np.__version__}")
    print("compile:")
    jit_compile(name)
    splits = real_splits()
    print("one backtest, quarterly + 5pp band, costs on (loop = run_kernel with the trade list):")
    single(frames, "pair", {})
    if splits is not None:
        single(frames, "pair", {}, splits)
    single(frames, "overlay", SEVEN_WEIGHTS)
    if splits is not None:
        single(frames, "overlay", SEVEN_WEIGHTS, splits)
    if "REAL" in label:
        print("  (real 7-asset history starts 2010 with SQQQ; 25 years of all 7 on the SYNTHETIC market:)")
        synthetic = synthetic_history([*SEVEN, "BIL"], start=date(2000, 5, 26), end=date(2025, 9, 26))
        single(synthetic, "overlay", SEVEN_WEIGHTS)
    print("sweep:")
    sweep(frames, name)
    if splits is not None:
        sweep(frames, name, splits)
    sweep_rss(name)
    print("bt:")
    bt_reference(frames)


if __name__ == "__main__":
    main()
