"""Research speed: 1,000 block-bootstrap resamples of a 25-year pair backtest, gated backtests with their weights
taken for every session at once against the same backtests asking the strategy session by session (measured
here, now, in alternating rounds), and the research page.

Uses ../shared/data/prices (beside the repo) when present, else the synthetic market over 2000-2025; says
which. Prints measured numbers only: best and median of several runs (the machine may be shared). Targets
(issue 12): the bootstrap at most 2 s, the page on the shared prices at most 30 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.adapters.history.frame import load_csv_dir, synthetic_history  # noqa: E402
from bot.commands import research  # noqa: E402
from bot.commands.outputs import result_intervals  # noqa: E402
from bot.config import strategy_from  # noqa: E402
from bot.core.domain import TargetWeights  # noqa: E402
from bot.research.backtest import BacktestSettings, run_backtest  # noqa: E402
from bot.research.backtest.engine import first_decidable  # noqa: E402
from bot.research.intervals import BootstrapSpec  # noqa: E402
from strategies.base import MarketView, Strategy  # noqa: E402

REAL = Path(os.environ.get("PAIRBOT_PRICES", Path(__file__).resolve().parents[2] / "shared" / "data" / "prices"))


def timings_s(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(best, median) of `repeat` runs, in seconds."""
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return min(runs), statistics.median(runs)


def main() -> None:
    real = (REAL / "IWM.csv").is_file()
    if real:
        frames, where = load_csv_dir(REAL, ["IWM", "QQQ", "SPY", "BIL"]), f"{REAL}"
    else:
        frames = synthetic_history(["IWM", "QQQ", "SPY", "BIL"], start=date(2000, 5, 26), end=date(2025, 9, 26))
        where = "SYNTHETIC (no shared prices found)"
    result = run_backtest(strategy_from("pair", {}), frames, BacktestSettings(cash_symbol="BIL"))
    m = result.metrics
    print(f"prices: {where}")
    print(f"pair backtest {m['start']} .. {m['end']}: {m['sessions']} sessions, benchmarks "
          f"{', '.join(m['benchmarks'])} and cash (BIL)")  # type: ignore[arg-type]
    spec = BootstrapSpec(resamples=1000)
    best, median = timings_s(lambda: result_intervals(result, spec), repeat=5)
    found = result_intervals(result, spec)
    print(f"bootstrap: {spec.resamples:,} resamples, mean block {spec.block_sessions} sessions, "
          f"{len(found.figures)} figures: best {best:.2f} s, median {median:.2f} s (target <= 2 s)")
    gated(frames)
    with tempfile.TemporaryDirectory() as out:
        prices = str(REAL) if real else "synthetic"
        parser = argparse.ArgumentParser()
        parser.add_argument("--config", type=Path, default=Path(out) / "absent.yaml")
        research.add_arguments(parser)
        args = parser.parse_args(["--prices", prices, "--out", out])
        best, median = timings_s(lambda: research.run(args), repeat=3)
        size = (Path(out) / "research.html").stat().st_size
    print(f"research page on {where}: best {best:.1f} s, median {median:.1f} s (target <= 30 s), "
          f"{size / 1e6:.1f} MB self-contained")


class SessionBySession:
    """A strategy without weights_by_session: what a backtest did before it, one target_weights call a session."""

    def __init__(self, inner: Strategy) -> None:
        self.inner = inner
        self.name = inner.name

    universe = property(lambda self: self.inner.universe)
    vehicles = property(lambda self: self.inner.vehicles)
    needs_history_days = property(lambda self: self.inner.needs_history_days)
    history_symbols = property(lambda self: self.inner.history_symbols)

    def target_weights(self, market: MarketView) -> TargetWeights:
        return self.inner.target_weights(market)


def gated(frames: dict[str, pd.DataFrame]) -> None:
    settings = BacktestSettings(cash_symbol="BIL")
    for params in ({"max_trailing_spread": -0.3}, {"min_trend_score": 2},
                   {"max_trailing_spread": -0.1, "min_trend_score": 3}):
        strategy = strategy_from("pair", params)
        start = first_decidable(strategy, frames, None)[0]
        run = replace(settings, start=start)
        slow = SessionBySession(strategy)
        fast_result, slow_result = run_backtest(strategy, frames, run), run_backtest(slow, frames, run)  # type: ignore[arg-type]
        same = fast_result.metrics == slow_result.metrics and \
            fast_result.equity.to_numpy().tobytes() == slow_result.equity.to_numpy().tobytes()
        times: dict[str, list[float]] = {"fast": [], "slow": []}
        for r in range(6):
            for name, who in (("fast", strategy), ("slow", slow))[:: 1 if r % 2 else -1]:
                t0 = time.perf_counter()
                run_backtest(who, frames, run)  # type: ignore[arg-type]
                times[name].append(time.perf_counter() - t0)
        fast_s, slow_s = statistics.median(times["fast"]), statistics.median(times["slow"])
        named = ", ".join(f"{k}={v}" for k, v in params.items())
        print(f"gated pair ({named}), {fast_result.metrics['sessions']} sessions: every session at once "
              f"{fast_s * 1e3:.1f} ms, session by session {slow_s * 1e3:.0f} ms, {slow_s / fast_s:.0f}x; the same "
              f"result bit for bit: {same}")


if __name__ == "__main__":
    main()
