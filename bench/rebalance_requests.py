"""How many HTTP requests a rebalance from flat makes, its wall time, `pairbot --help` start-up time, and a
no-op local-mode rebalance against `python -c "import alpaca.trading.client"` (issue 14's start-up ratio).

Runs the real CLI as subprocesses in temporary directories: in paper mode against a local exchange on
127.0.0.1 (so the exchange can count what it received), and in local mode (the embedded default, through
the installed `pairbot` console script, as cron runs it). The ratio's two commands run in interleaved rounds
and each figure is the median of its rounds. Prints measured numbers; asserts nothing. `--rounds N` (default 15).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import yaml

from bot.adapters.exchange import ExchangeSettings, LocalExchange

KEY, SECRET = "PKBENCH0000000001", "bench-secret"
ROOT = Path(__file__).resolve().parents[1]


def run_cli(workdir: Path, env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=workdir, env=env, text=True,
                          capture_output=True, check=False)
    return time.perf_counter() - started, done


def main() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "PAIRBOT_"))}
    env["PYTHONPATH"] = str(ROOT)
    help_times = [run_cli(ROOT, env, "--help")[0] for _ in range(5)]
    print(f"pairbot --help: median {statistics.median(help_times) * 1000:.0f} ms over 5 runs")

    settings = ExchangeSettings(state_path=None, api_key=KEY, secret_key=SECRET, starting_cash=Decimal("100000"))
    with LocalExchange(settings) as ex, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        # window null: measured whatever the hour (the local exchange's clock is always open)
        (workdir / "config.yaml").write_text(yaml.safe_dump({"mode": "paper", "schedule": {"window": None}}))
        env |= {"ALPACA_API_KEY": KEY, "ALPACA_SECRET_KEY": SECRET, "ALPACA_BASE_URL": ex.base_url,
                "ALPACA_DATA_URL": ex.base_url}
        for label in ("rebalance from flat", "rebalance again (no-op)"):
            before = len(ex.requests)
            wall, done = run_cli(workdir, env, "rebalance")
            calls = Counter(f"{r.method} {r.path}" for r in list(ex.requests)[before:])
            print(f"{label}: exit {done.returncode}, {sum(calls.values())} HTTP requests, wall {wall:.2f} s "
                  "(process start and imports included)")
            for route, n in sorted(calls.items(), key=lambda kv: -kv[1]):
                print(f"    {n:3d}  {route}")
    no_op_ratio(env, int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 15)


def wall_of(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def no_op_ratio(env: dict[str, str], rounds: int) -> None:
    script = Path(sys.executable).with_name("pairbot")
    if not script.is_file():
        print(f"no-op local rebalance: skipped, no console script at {script} (pip install -e . first)")
        return
    env = {k: v for k, v in env.items() if not k.startswith(("ALPACA_", "PAIRBOT_"))}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "config.yaml").write_text(yaml.safe_dump({"mode": "local", "schedule": {"window": None}}))
        rebalance, baseline = [str(script), "rebalance"], [sys.executable, "-c", "import alpaca.trading.client"]
        wall_of(rebalance, workdir, env)  # from flat: the book is built, the quarter marked done
        wall_of(rebalance, workdir, env)  # warm caches (the NYSE schedule, the synthetic walk, bytecode)
        ours: list[float] = []
        theirs: list[float] = []
        for i in range(rounds):
            pair = [(ours, rebalance), (theirs, baseline)]
            for out, cmd in pair if i % 2 == 0 else pair[::-1]:
                out.append(wall_of(cmd, workdir, env))
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"no-op local-mode `pairbot rebalance` (embedded exchange, nothing to do) {a * 1000:.0f} ms vs "
          f"`python -c \"import alpaca.trading.client\"` {b * 1000:.0f} ms, medians of {rounds} interleaved rounds: "
          f"RATIO {a / b:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
