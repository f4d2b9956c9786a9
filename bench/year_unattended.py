"""A year unattended: the real runner (alpaca-py, HTTP, ledger) on the local exchange's replay clock, one run per
session, on the shared real history AS TRADED, with the exchange booking the splits and the cash dividends as
Alpaca books them. Prints runs, exit codes, interventions a person would have had to make (goal: 0), whether
the ledger equals the broker at the end, the events journaled, and equity against the backtest (total-return
prices, so the dividends there are reinvested at once: a small, expected difference).

    .venv/bin/python bench/year_unattended.py [--prices ../shared/data/prices]

Exits 0 when there was no intervention and the ledger equals the broker; skips (exit 0, says so) without the
shared data.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.adapters.exchange import ExchangeSettings, LocalExchange  # noqa: E402
from bot.adapters.history.frame import load_csv_dir  # noqa: E402
from bot.adapters.history.splits import splits_beside  # noqa: E402
from bot.adapters.ledger import Ledger  # noqa: E402
from bot.adapters.logs import configure_silent  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.core.book import book_breaks, our_symbols  # noqa: E402
from bot.errors import BotError  # noqa: E402
from bot.live.context import RunContext  # noqa: E402
from bot.live.runner import rebalance_once  # noqa: E402
from bot.live.wiring import Endpoint, broker_for  # noqa: E402
from bot.research.backtest import run_backtest  # noqa: E402
from bot.research.parity import backtest_settings, write_csv_dir, write_splits  # noqa: E402

CASES = {  # name: (strategy, params, start, end, the split it crosses)
    "PSQ-hedged pair": ("pair", {"hedge": "inverse"}, date(2023, 10, 2), date(2024, 9, 30), "PSQ 2024-04-10"),
    "overlay": ("overlay", {}, date(2024, 6, 3), date(2025, 6, 2), "SQQQ 2024-11-07"),
}
NEEDS_YOU = {2, 5, 6}  # bad input, an incomplete order, a ledger break: a person must act


def one_year(prices: Path, name: str) -> bool:
    strategy_name, params, start, end, crossing = CASES[name]
    config = parse_config({"mode": "paper", "strategy": strategy_name, "strategies": {strategy_name: params},
                           "schedule": {"window": None}})
    strategy = config.build_strategy()
    splits = splits_beside(prices) or ()
    frames = {s: f.loc[pd.Timestamp(start):pd.Timestamp(end)] for s, f in
              load_csv_dir(prices, sorted(strategy.universe)).items()}
    sessions = sorted(set.intersection(*(set(f.index) for f in frames.values())))
    key, secret = "LOCALYEAR" + secrets.token_hex(4).upper(), secrets.token_urlsafe(16)
    codes: Counter[int] = Counter()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_csv_dir(frames, Path(tmp))  # close and adj_close as they are: the exchange derives the dividends
        write_splits([s for s in splits if s.on > start], Path(tmp))
        settings = ExchangeSettings(state_path=None, api_key=key, secret_key=secret, clock="replay", prices=Path(tmp),
                                    replay_start=sessions[0].date(), starting_cash=Decimal(100000),
                                    half_spread_bps=Decimal(0), partial_fill_probability=0.1, simulate_dividends=True)
        with LocalExchange(settings) as ex, Ledger(Path(tmp) / "ledger.sqlite") as ledger:
            broker = broker_for(config, Endpoint(api_key=key, secret_key=secret, base_url=ex.base_url,
                                                 data_url=ex.base_url))
            for i, day in enumerate(sessions):
                if i:
                    ex.set_date(day.date())
                ctx = RunContext(config=config, strategy=strategy, broker=broker, ledger=ledger,
                                 run_id=f"year-{day:%Y%m%d}", now=lambda: datetime.now(UTC), sleep=time.sleep)
                try:
                    rebalance_once(ctx, execute=True)
                    codes[0] += 1
                except BotError as err:
                    codes[err.exit_code] += 1
                    print(f"  {day:%Y-%m-%d} exit {err.exit_code}: {err}")
            ex.settle()
            held = {p.symbol: p.qty for p in broker.positions()}
            mine = ledger.positions()
            breaks = book_breaks(mine, held, ours=our_symbols(strategy.universe, mine))
            equity = broker.snapshot(strategy.universe).equity
            events = Counter(b.event.activity_type for b in ledger.events())
            cash = sum((b.event.cash for b in ledger.events()), Decimal(0))
    seconds = time.perf_counter() - started
    later = tuple(s for s in splits if s.on > start)
    settings_bt = dataclasses.replace(backtest_settings(config, start, end, slippage_bps=Decimal(0)), splits=later)
    result = run_backtest(strategy, frames, settings_bt)
    backtest = Decimal(repr(float(result.equity.iloc[-1]))).quantize(Decimal("0.01"))
    interventions = sum(n for c, n in codes.items() if c in NEEDS_YOU)
    print(f"{name}: {len(sessions)} sessions {sessions[0]:%Y-%m-%d}..{sessions[-1]:%Y-%m-%d} across {crossing}, "
          f"{seconds:.1f} s")
    print(f"  runs {sum(codes.values())}; exit codes {dict(sorted(codes.items()))}; interventions {interventions}")
    print(f"  ledger = broker at the end: {'yes' if not breaks else 'NO: ' + '; '.join(v.message for v in breaks)}")
    print(f"  events journaled {dict(sorted(events.items()))}; their cash ${cash:,.2f}")
    print(f"  final equity: paper ${equity:,.2f}, backtest (as traded, total return) ${backtest:,.2f}, "
          f"difference ${equity - backtest:+,.2f} ({(equity / backtest - 1) * 100:+.3f}%)")
    return interventions == 0 and not breaks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prices", type=Path, default=ROOT.parent / "shared" / "data" / "prices")
    args = parser.parse_args()
    if not (args.prices / "PSQ.csv").is_file():
        print(f"skipped: no price history at {args.prices}")
        return 0
    configure_silent()
    ok = [one_year(args.prices, name) for name in CASES]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    raise SystemExit(main())
