"""Soak: N seeded runs of `pairbot rebalance` (subprocesses, mode paper) against one loopback exchange, each with a
random fault or a random kill -9, strategy switches to force trading; prints faults injected vs survived,
duplicate orders, lost fills, ledger drift, the most HTTP requests of one run and the longest silent wait.

    .venv/bin/python bench/soak.py [--runs 40] [--seed 1] [--max-seconds 240]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.adapters.exchange import ExchangeSettings, Fault, LocalExchange  # noqa: E402
from tests.reliability import invariants  # noqa: E402

KEY, SECRET = "PKSOAK00000000001", "soak-secret-not-real"
EXECUTION = {"read_timeout_seconds": 0.75, "connect_timeout_seconds": 1, "fill_timeout_seconds": 2,
             "poll_interval_seconds": 0.05, "read_attempts": 3}
CHECKPOINTS = ["after_lock", "after_reconcile", "after_intent:1", "after_intent:2", "after_submit:1",
               "after_submit:2", "mid_poll:1", "mid_poll:2", "after_ingest:1", "after_ingest:2"]
POST, ANY_READ = ("POST", "/v2/orders"), ("GET", "*")


def faults(rng: random.Random) -> list[tuple[str, Fault]]:
    call = frozenset({rng.randint(1, 4)})
    read_path = rng.choice(["/v2/account", "/v2/positions", "/v2/clock", "/v2/orders", "/v2/stocks/quotes/latest",
                            "/v2/account/activities/FILL"])
    status = rng.choice([500, 502, 503, 504])
    return [
        ("429 read", Fault("rate_limit", method="GET", path=read_path, on_calls=call, retry_after=1)),
        ("429 post", Fault("rate_limit", method="POST", path="/v2/orders", on_calls=call, retry_after=1)),
        (f"{status} read", Fault("status", method="GET", path=read_path, on_calls=call, status=status,
                                 html=rng.random() < 0.5)),
        (f"{status} post", Fault("status", method="POST", path="/v2/orders", on_calls=call, status=status,
                                 html=rng.random() < 0.5)),
        ("504 after apply", Fault("status", method="POST", path="/v2/orders", on_calls=call, status=504,
                                  after_apply=True)),
        ("slow read", Fault("delay", method="GET", path=read_path, on_calls=call, delay_seconds=1.5)),
        ("slow post", Fault("delay", method="POST", path="/v2/orders", on_calls=call, delay_seconds=1.5)),
        ("drop before", Fault("drop_before", method="POST", path="/v2/orders", on_calls=call)),
        ("drop after apply", Fault("drop_after_apply", method="POST", path="/v2/orders", on_calls=call)),
        ("partial then expire", Fault("partial_then_expire", method="POST", path="/v2/orders", on_calls=call)),
        ("stuck", Fault("stuck", method="POST", path="/v2/orders", on_calls=call, polls=10_000)),
        ("late fill after cancel", Fault("late_fill_after_cancel", method="POST", path="/v2/orders", on_calls=call)),
        ("reject later", Fault("reject_later", method="POST", path="/v2/orders", on_calls=call)),
        ("reject", Fault("reject", method="POST", path="/v2/orders", on_calls=call,
                         message="insufficient buying power")),
        ("broker down", Fault("status", method="GET", status=503)),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=240)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()
    settings = ExchangeSettings(state_path=None, api_key=KEY, secret_key=SECRET, starting_cash=Decimal("100000"),
                                partial_fill_probability=0.3, seed=args.seed)
    injected: Counter[str] = Counter()
    survived: Counter[str] = Counter()
    codes: Counter[int] = Counter()
    most_requests, longest_silent, problems = 0, 0.0, []
    with tempfile.TemporaryDirectory() as tmp, LocalExchange(settings) as ex:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "PAIRBOT_"))}
        env |= {"PYTHONPATH": str(ROOT), "ALPACA_API_KEY": KEY, "ALPACA_SECRET_KEY": SECRET,
                "ALPACA_BASE_URL": ex.base_url, "ALPACA_DATA_URL": ex.base_url}
        ledger = work / ".state" / "ledger-paper.sqlite"
        strategy = "pair"

        def rebalance(extra: dict[str, str]) -> tuple[int, int, float]:
            before, t0 = len(ex.requests), time.monotonic()
            code = subprocess.run([sys.executable, "-m", "bot.cli", "rebalance"], cwd=work, env={**env, **extra},
                                  capture_output=True, text=True, timeout=120).returncode
            return code, len(ex.requests) - before, time.monotonic() - t0

        runs = 0
        while runs < args.runs and time.monotonic() - started < args.max_seconds:
            runs += 1
            if runs % 3 == 1:  # a new target: the next runs must trade
                strategy = "overlay" if strategy == "pair" else "pair"
                (work / "config.yaml").write_text(yaml.safe_dump({
                    "mode": "paper", "strategy": strategy, "execution": EXECUTION,
                    "paths": {"state_dir": ".state", "ledger": ".state/ledger-{mode}.sqlite", "logs": "logs"}}))
            extra: dict[str, str] = {}
            if rng.random() < 0.35:
                name = "kill -9 at " + rng.choice(CHECKPOINTS)
                extra["PAIRBOT_TEST_CRASH_AT"] = name.removeprefix("kill -9 at ")
            else:
                name, fault = rng.choice(faults(rng))
                ex.faults.add(fault)
            injected[name.split(" at ")[0]] += 1
            code, requests, seconds = rebalance(extra)
            codes[code] += 1
            most_requests = max(most_requests, requests)
            if "slow" in name or name == "stuck":
                longest_silent = max(longest_silent, seconds)
            try:
                invariants.check(ex, KEY, SECRET, ledger, settled=code == 0)
                clean, requests, _ = rebalance({})  # the fault is gone: a clean rerun must converge
                most_requests = max(most_requests, requests)
                if clean != 0:
                    raise AssertionError(f"clean rerun exited {clean}")
                invariants.check(ex, KEY, SECRET, ledger)
                survived[name.split(" at ")[0]] += 1
            except AssertionError as err:
                problems.append(f"run {runs} ({name}, exit {code}): {err}")
        final = invariants.broker_view(ex, KEY, SECRET)
        led = invariants.ledger_view(ledger)
    lost = len({f["id"] for f in final.fills} - set(led.fill_ids))
    drift = {s: q for s in set(final.positions) | set(led.positions)
             if (q := final.positions.get(s, Decimal(0)) - led.positions.get(s, Decimal(0)))}
    print(f"soak: {runs} faulty runs (+ a clean rerun each), seed {args.seed}, "
          f"{time.monotonic() - started:.0f}s, exit codes {dict(sorted(codes.items()))}")
    print(f"  faults injected {sum(injected.values())}, survived {sum(survived.values())}")
    for name, n in sorted(injected.items()):
        print(f"    {name:<24} {survived[name]}/{n}")
    print(f"  duplicate orders {invariants.duplicate_orders(final.orders)}; "
          f"order-attempt problems {len(invariants.order_problems(final.orders))}; lost fills {lost}; "
          f"ledger drift {drift or 0}")
    print(f"  broker orders {len(final.orders)}, fills {len(final.fills)}")
    print(f"  most HTTP requests in one run {most_requests}; longest run against a silent server "
          f"{longest_silent:.1f}s (read timeout {EXECUTION['read_timeout_seconds']}s)")
    for p in problems:
        print("  PROBLEM", p)
    return 1 if problems or lost or drift else 0


if __name__ == "__main__":
    raise SystemExit(main())
