"""Backtest speed, measured in one run: one backtest against its compiled loop and a plain Python loop, sweeps
against the one-thread floor on one and two cores, 100,000 variants (time and peak memory), and a 2-worker
local Dask cluster against the local run.

Uses ../shared/data/prices (beside the repo) when present, else the synthetic market; says which. Every figure
is measured here, now: the contenders of a comparison run in interleaved rounds (so a drift in the machine's
speed hits them alike) and each figure is the median of its rounds (best in brackets). `--quick` runs fewer
rounds. The ratios the issues ask for are printed with their targets.
"""

from __future__ import annotations

import ctypes
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.plain_loop import plain_pair_backtest  # noqa: E402
from bot.adapters.history.frame import load_csv_dir, synthetic_history  # noqa: E402
from bot.config import strategy_from  # noqa: E402
from bot.research.backtest import BacktestResult, BacktestSettings, backend, run_backtest  # noqa: E402
from bot.research.backtest.chunks import Book, books_of, chunks_of  # noqa: E402
from bot.research.backtest.engine import (  # noqa: E402
    BENCHMARKS,
    RunArrays,
    backtest_market,
    first_decidable,
    single_params,
    single_variant,
    target_path,
)
from bot.research.backtest.grid import grid_rows  # noqa: E402
from bot.research.backtest.kernel import loop_args, run_kernel, run_rows  # noqa: E402
from bot.research.backtest.market import PricedMarket, build_market, due_sessions  # noqa: E402
from bot.research.backtest.sweep import run_sweep  # noqa: E402
from strategies.base import MarketView, Strategy  # noqa: E402

REAL = Path(os.environ.get("PAIRBOT_PRICES", Path(__file__).resolve().parents[2] / "shared" / "data" / "prices"))
ROOT = Path(__file__).resolve().parents[1]
SEVEN = ["IWM", "QQQ", "SPY", "PSQ", "TNA", "SQQQ", "UPRO"]
SETTINGS = BacktestSettings(frequency="quarterly", leg_band=0.05, slippage_bps=1, borrow_bps=50, cash_rate=0.02)
GRID: dict[str, list[object]] = {  # 25 x 4 x 5 x 2 = 1,000 variants
    "leg_band": [round(0.02 + 0.01 * i, 2) for i in range(25)],
    "frequency": ["monthly", "quarterly", "annual", "none"],
    "gross": [0.5, 1.0, 1.5, 2.0, 2.5],
    "hedge": ["short", "inverse"],
}
BIG_GRID = {**GRID, "slippage_bps": [0.0, 1.0, 2.0, 5.0, 10.0], "borrow_bps": [0.0, 25.0, 50.0, 100.0, 200.0],
            "min_trade_usd": [0.0, 100.0, 500.0, 1000.0]}  # 1,000 x 5 x 5 x 4 = 100,000
CLUSTER_GRID = {**GRID, "slippage_bps": [0.0, 2.0, 5.0, 10.0, 20.0], "borrow_bps": [0.0, 50.0]}  # 10,000
Timed = Callable[[], object]


def rounds(contenders: dict[str, Timed], n: int, *, setup: Callable[[], None] | None = None) -> dict[str, list[float]]:
    """Each contender once per round, in a rotating order; seconds per run."""
    names = list(contenders)
    out: dict[str, list[float]] = {k: [] for k in names}
    for r in range(n):
        for k in names[r % len(names):] + names[: r % len(names)]:
            if setup is not None:
                setup()
            t0 = time.perf_counter()
            contenders[k]()
            out[k].append(time.perf_counter() - t0)
    return out


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def ms(xs: list[float]) -> str:
    return f"{med(xs) * 1e3:.3f} ms (best {min(xs) * 1e3:.3f})"


def load() -> tuple[dict[str, pd.DataFrame], str]:
    if (REAL / "IWM.csv").is_file():
        return load_csv_dir(REAL, [*SEVEN, "BIL"]), f"REAL data from {REAL}"
    return synthetic_history([*SEVEN, "BIL"], start=date(2000, 5, 26), end=date(2025, 9, 26)), "SYNTHETIC data"


def compiled_pass(frames: dict[str, pd.DataFrame], settings: BacktestSettings) -> tuple[Timed, Timed]:
    """The loop's own work for one backtest (the C call on prepared arguments, fresh state each time), and
    run_kernel (the same with the driver's marshalling)."""
    strategy = strategy_from("pair", {})
    priced = build_market(frames, tuple(sorted(strategy.universe)), strategy.vehicles, start=None, end=None,
                          cash_rate=settings.cash_rate, opens=False)
    variants = single_variant(settings, target_path(strategy, frames, priced)[None],
                              due_sessions(priced.dates, settings.frequency)[None])
    args = loop_args(priced.market, variants.targets, variants.due, variants.params(), variants.starting_cash,
                     next_open=False, record=True, stats=True)
    fresh, rows = args.state.copy(), np.zeros(1, dtype=np.int64)
    run = backend.get().runner(args)

    def loop_only() -> None:
        args.state[:] = fresh
        args.summary[:] = 0.0
        args.n_trades[0] = 0
        run(rows)

    return loop_only, lambda: run_kernel(priced.market, variants, record=True)


def with_tables(result: BacktestResult) -> None:
    for table in (result.equity, result.positions, result.exposure, result.trades, result.benchmarks):
        assert len(table)


def one_backtest(frames: dict[str, pd.DataFrame], n: int) -> None:
    pair = strategy_from("pair", {})
    loop_only, kernel = compiled_pass(frames, SETTINGS)
    result = run_backtest(pair, frames, SETTINGS)
    plain = plain_pair_backtest(frames, SETTINGS)
    agree = abs(plain["final_equity"] / float(result.metrics["final_equity"]) - 1)  # type: ignore[arg-type]
    got = rounds({"loop": loop_only, "kernel": kernel, "e2e": lambda: run_backtest(pair, frames, SETTINGS),
                  "tables": lambda: with_tables(run_backtest(pair, frames, SETTINGS)),
                  "plain": lambda: plain_pair_backtest(frames, SETTINGS), "floor": python_floor(frames, pair)}, n)
    m = result.metrics
    print(f"one backtest: pair IWM/QQQ {m['start']}..{m['end']} ({m['sessions']} sessions, {m['rebalances']} "
          f"rebalances), quarterly + 5pp band, slippage, borrow, cash; {n} interleaved rounds, medians:")
    print(f"  the compiled pass alone (loop.c pb_run: simulation, trades, holdings, exposure, curve statistics) "
          f"{ms(got['loop'])}; run_kernel (with the driver) {ms(got['kernel'])}")
    print(f"  end to end, frames -> result and metrics {ms(got['e2e'])}; then every table built {ms(got['tables'])}")
    print(f"  a plain Python float loop, frames -> final equity and the same curve metrics (bench/plain_loop.py) "
          f"{ms(got['plain'])}; its final equity is ours within {agree:.1e}")
    e2e = med(got["e2e"])
    stages(frames, pair, n)
    print(f"  what would stay Python if every number were one C call (the frames' arrays, the strategy's weights, "
          f"one call, the result's dict and object; python_floor) {ms(got['floor'])}: end to end could not go below "
          f"it plus the compiled pass, {(med(got['floor']) + med(got['loop'])) / med(got['loop']):.2f}x the pass")
    print(f"  RATIO end to end / compiled pass = {e2e / med(got['loop']):.2f} (target <= 2); end to end / "
          f"run_kernel = {e2e / med(got['kernel']):.2f}; plain Python loop / end to end = "
          f"{med(got['plain']) / e2e:.1f}x (target >= 5)")


def python_floor(frames: dict[str, pd.DataFrame], pair: Strategy) -> Timed:
    """A lower bound on one backtest's Python, were alignment, calendar, simulation, benchmarks and checks all one
    compiled call: read the frames' index and adjusted closes, ask the strategy for its weights, make one C call
    (libc's memset, on one output) and build the result's dict and object. It computes nothing."""
    libc = ctypes.CDLL(None)
    memset = libc.memset
    memset.restype, memset.argtypes = ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    symbols = tuple(sorted(pair.universe))
    names = ("final_equity", "total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "turnover",
             "rebalances", "decisions", "costs_usd", "borrow_usd", "avg_gross", "avg_net", "trades")

    def floor() -> BacktestResult:
        arrays = []
        for sym in (*symbols, "SPY"):
            frame, index = frames[sym], frames[sym].index
            if not (index.is_monotonic_increasing and index.is_unique):
                raise ValueError(sym)
            arrays.append((index.values.view(np.int64), frame.to_numpy()[:, frame.columns.get_loc("adj_close")]))
        stamps = arrays[0][0]
        t = len(stamps)
        curves, held, stats = np.empty((5, t)), np.empty((t, len(symbols))), np.empty((3, 12))
        first = pd.Timestamp(stamps[0]).date()
        weights = pair.target_weights(MarketView(first, {s: Decimal(1) for s in symbols})).weights
        row = np.array([float(weights.get(s, Decimal(0))) for s in symbols])
        addresses = [a.__array_interface__["data"][0] for both in arrays for a in both] + \
                    [a.__array_interface__["data"][0] for a in (curves, held, stats, row)]
        memset(addresses[-4], 0, 8)
        dates = pd.DatetimeIndex(stamps.view("datetime64[ns]"), name="date")
        iso = np.datetime_as_string(stamps[[0, -1, 5, 9, 20]].view("datetime64[ns]"), unit="D").tolist()
        facts: dict[str, object] = {"strategy": pair.name, "start": iso[0], "end": iso[1], "sessions": t,
                                    "starting_cash": SETTINGS.starting_cash, **{k: float(stats[0, 1]) for k in names},
                                    "benchmarks": {b: {k: float(stats[1, 2]) for k in names[:7]} for b in BENCHMARKS},
                                    "unholdable_legs": [], "fractional_shorts": []}
        run = RunArrays(dates, symbols, curves[0], held, curves[1], curves[2], (), 0, 0.0, {"SPY": curves[3]},
                        curves[4])
        return BacktestResult(pair.name, SETTINGS, facts, (), run, ())

    return floor


def stages(frames: dict[str, pd.DataFrame], pair: Strategy, n: int) -> None:
    """Where one backtest's time goes, each stage by its public entry point on the same inputs, in interleaved
    rounds: the market (first_decidable + build_market), target weights, the calendar, the kernel (run_rows: the
    compiled pass and its driver), and what backtest_market spends beyond those three (metrics, benchmark curves,
    share checks, the result)."""
    s = SETTINGS
    start, _ = first_decidable(pair, frames, s.start)

    def market() -> PricedMarket:
        return build_market(frames, tuple(sorted(pair.universe)), pair.vehicles, start=start, end=s.end,
                            cash_rate=s.cash_rate, cash_symbol=s.cash_symbol, opens=s.fill == "next_open",
                            splits=s.splits)

    priced = market()
    targets, due = target_path(pair, frames, priced), due_sessions(priced.dates, s.frequency)
    params, cash = single_params(s), np.array([float(s.starting_cash)])
    got = rounds({"market": market, "targets": lambda: target_path(pair, frames, priced),
                  "calendar": lambda: due_sessions(priced.dates, s.frequency),
                  "kernel": lambda: run_rows(priced.market, targets[None], due[None], params, cash, fill=s.fill,
                                             record=True),
                  "after": lambda: backtest_market(pair, frames, priced, s)}, n)
    inside = med(got["targets"]) + med(got["calendar"]) + med(got["kernel"])
    rest = med(got["after"]) - inside
    us = {k: f"{med(v) * 1e6:.0f} us" for k, v in got.items()}
    print(f"  stages (medians): market {us['market']}, targets {us['targets']}, calendar {us['calendar']}, kernel "
          f"{us['kernel']}, metrics, benchmarks, share checks and the result {rest * 1e6:.0f} us (backtest_market less "
          f"the three before it)")


def floor_of(frames: dict[str, pd.DataFrame], grid: dict[str, list[object]]) -> tuple[Timed, int]:
    """The one-thread floor: the C loop over every variant of the sweep (one call per strategy book, all its rows,
    arguments prepared beforehand, fresh state each time, one equity buffer reused as a sweep's thread reuses
    its own), producing the outputs the table is made of."""
    rows = grid_rows(grid, SETTINGS, "pair", {})
    symbols = tuple(sorted(set().union(*(s.universe for s in rows.strategies))))
    vehicles = {k: v for s in rows.strategies for k, v in s.vehicles.items()}
    priced = build_market(frames, symbols, vehicles, start=None, end=None, cash_rate=SETTINGS.cash_rate, opens=False)
    due = np.stack([due_sessions(priced.dates, f) for f in rows.frequencies])
    books = books_of(priced, rows.strategies, [target_path(s, frames, priced) for s in rows.strategies], due, "close")
    chunks = chunks_of(rows.params, rows.starting_cash, rows.count)
    scratch = np.empty((max(len(c.rows) for c in chunks), len(priced.dates)))  # one equity buffer, as a thread has
    prepared = []
    for c in chunks:
        b: Book = books[c.book]
        args = loop_args(b.market, b.targets, b.due, c.params, c.starting_cash, next_open=False, record=False,
                         stats=True, equity=scratch[: len(c.rows)])
        prepared.append((args, args.state.copy(), backend.get().runner(args), np.arange(len(c.rows), dtype=np.int64)))

    def floor() -> None:
        for args, fresh, run, todo in prepared:
            args.state[:] = fresh
            args.summary[:] = 0.0
            run(todo)  # the grid has no fractional longs: nothing stops for Decimal

    return floor, len(priced.dates)


def sweeps(frames: dict[str, pd.DataFrame], n: int) -> None:
    floor, sessions = floor_of(frames, GRID)
    table = run_sweep(frames, "pair", {}, GRID, SETTINGS, workers=1)
    got = rounds({"floor": floor, "one": lambda: run_sweep(frames, "pair", {}, GRID, SETTINGS, workers=1),
                  "two": lambda: run_sweep(frames, "pair", {}, GRID, SETTINGS, workers=2)}, n)
    print(f"sweep: {len(table)} variants (band x frequency x gross x hedge) over {table.attrs['start']}.."
          f"{table.attrs['end']} ({sessions} sessions), mean {table['rebalances'].mean():.0f} rebalances; "
          f"{n} interleaved rounds, medians:")
    print(f"  one-thread floor (the C loop alone over every variant) {ms(got['floor'])}; run_sweep on one thread "
          f"{ms(got['one'])}; on two threads {ms(got['two'])}")
    f = med(got["floor"])
    print(f"  RATIO one core = {f / med(got['one']):.0%} of the floor's speed (target >= 80 %); two cores = "
          f"{f / med(got['two']):.2f}x the floor's speed (target >= 1.6x)")


def big_sweep() -> None:
    """100,000 variants in a fresh process: wall time and peak RSS (VmHWM)."""
    done = subprocess.run([sys.executable, __file__, "--big"], capture_output=True, text=True, check=True, cwd=ROOT)
    seconds, rows, peak, idle = done.stdout.split()
    print(f"100,000 variants: {int(rows):,} rows in {float(seconds):.2f} s on every core (target <= 6 s); peak RSS of "
          f"that fresh process {float(peak):.0f} MB (target <= 200 MB), of which {float(idle):.0f} MB before the sweep "
          f"(imports and prices)")


def _big() -> None:
    frames, _ = load()
    idle = _peak_mb()
    t0 = time.perf_counter()
    table = run_sweep(frames, "pair", {}, BIG_GRID, SETTINGS)
    print(time.perf_counter() - t0, len(table), _peak_mb(), idle)


def _peak_mb() -> float:
    """VmHWM: this process's own peak RSS (ru_maxrss of a child forked from a big parent can inherit the parent's)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return math.nan


def on_a_cluster(frames: dict[str, pd.DataFrame], n: int) -> None:
    try:
        from distributed import LocalCluster
    except ImportError:
        print("cluster: distributed is not installed (pip install 'pairbot[cluster]'): no cluster figure")
        return
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      host="127.0.0.1") as cluster:
        address = cluster.scheduler_address
        local = run_sweep(frames, "pair", {}, CLUSTER_GRID, SETTINGS, workers=2)
        remote = run_sweep(frames, "pair", {}, CLUSTER_GRID, SETTINGS, cluster=address)
        same = local.equals(remote) and all(local[c].to_numpy().tobytes() == remote[c].to_numpy().tobytes()
                                            for c in local.columns if local[c].dtype.kind == "f")
        got = rounds({"local": lambda: run_sweep(frames, "pair", {}, CLUSTER_GRID, SETTINGS, workers=2),
                      "cluster": lambda: run_sweep(frames, "pair", {}, CLUSTER_GRID, SETTINGS, cluster=address)}, n)
    per = (med(got["cluster"]) - med(got["local"])) / (len(local) / 10_000)
    print(f"cluster: {len(local):,} variants on a local Dask cluster of 2 worker processes (1 thread each) vs 2 local "
          f"threads; {n} interleaved rounds, medians: local {ms(got['local'])}, cluster {ms(got['cluster'])} "
          f"(connect, ship the books, 20 tasks, gather); same table bit for bit: {same}; overhead "
          f"{per * 1e3:.0f} ms per 10,000 variants")


def compile_times() -> None:
    probe = ("import time; from bot.research.backtest import cloop; t0 = time.perf_counter(); l = cloop.load(); "
             "print(time.perf_counter() - t0, l is not None)")  # load() alone: the imports before it are not its cost
    with tempfile.TemporaryDirectory() as empty:
        cold = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT,
                              env={**os.environ, "PAIRBOT_LOOP_CACHE": empty}).stdout.split()
    warm = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          cwd=ROOT).stdout.split()
    print(f"compile: cc -O2 of loop.c, cold (empty cache) {float(cold[0]) * 1e3:.0f} ms; from the cache "
          f"{float(warm[0]) * 1e3:.1f} ms; once per process, not in the figures below")


def main() -> None:
    if "--big" in sys.argv:
        _big()
        return
    n = 9 if "--quick" in sys.argv else 31
    frames, label = load()
    loop = backend.get()
    print(f"backtest speed | {label} | {os.cpu_count()} cpus | loop: {loop.name} {getattr(loop, 'path', '')} | "
          f"numpy {np.__version__}, pandas {pd.__version__}")
    compile_times()
    one_backtest(frames, n * 5)
    sweeps(frames, n)
    big_sweep()
    on_a_cluster(frames, max(3, n // 4))


if __name__ == "__main__":
    main()
