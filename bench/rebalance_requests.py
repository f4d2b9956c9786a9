"""How many HTTP requests a rebalance from flat makes, its wall time, and `pairbot --help` start-up time.

Runs the real CLI as subprocesses in a temporary directory, in paper mode against a local exchange on
127.0.0.1 (so the exchange can count what it received). Prints measured numbers; asserts nothing.
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
        (workdir / "config.yaml").write_text(yaml.safe_dump({"mode": "paper"}))
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


if __name__ == "__main__":
    main()
