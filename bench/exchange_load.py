"""Load benchmark for the local exchange: 10,000 mixed alpaca-py requests from 8 threads, then a consistency check.

Run: .venv/bin/python bench/exchange_load.py [--requests N] [--threads N] [--in-process]
Loopback only. By default the exchange runs in a child process (`serve_main`, state in memory) so the
clients' own CPU (alpaca-py's pydantic parsing, requests) does not share one GIL with the server;
--in-process runs it in a thread of this process instead (then the server's request log is checked too).
"""

from __future__ import annotations

import argparse
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockLatestQuoteRequest
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import MarketOrderRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.adapters.exchange import ExchangeSettings, LocalExchange  # noqa: E402
from tests.reliability import invariants  # noqa: E402

SYMBOLS = ("IWM", "QQQ", "SPY", "TNA", "PSQ")
START_CASH = Decimal("1000000")


def worker(seed: int, count: int, base_url: str, keys: tuple[str, str], outcomes: Counter[str],
           lock: threading.Lock) -> None:
    rng = random.Random(seed)
    trading = TradingClient(*keys, paper=True, url_override=base_url)
    data = StockHistoricalDataClient(*keys, url_override=base_url)
    trading._retry_wait = data._retry_wait = 0
    # Loopback: skip requests' per-call proxy lookup in os.environ, which costs more than the exchange.
    trading._session.trust_env = data._session.trust_env = False
    local: Counter[str] = Counter()
    for _ in range(count):
        roll = rng.random()
        try:
            if roll < 0.40:
                side = rng.choice(("buy", "sell"))
                trading.submit_order(MarketOrderRequest(symbol=rng.choice(SYMBOLS), qty=rng.randint(1, 5),
                                                        side=side, time_in_force="day"))
                local["order"] += 1
            elif roll < 0.55:
                trading.get_account()
                local["account"] += 1
            elif roll < 0.70:
                trading.get_all_positions()
                local["positions"] += 1
            elif roll < 0.85:
                data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=list(SYMBOLS)))
                local["quotes"] += 1
            else:
                trading.get("/account/activities/FILL", {"direction": "desc", "page_size": 50})
                local["activities"] += 1
        except APIError as err:
            local[f"refused {err.status_code}"] += 1
    with lock:
        outcomes.update(local)


def check(client: TradingClient) -> list[str]:
    client.get_clock()  # let the engine settle what is due
    client.get_clock()
    fills = invariants.all_fills(client, page_size=100)
    problems: list[str] = []
    by_symbol: Counter[str] = Counter()
    signed_notional = Decimal(0)
    for f in fills:
        sign = 1 if f["side"] == "buy" else -1
        by_symbol[f["symbol"]] += sign * Decimal(f["qty"])  # type: ignore[assignment]
        signed_notional += sign * Decimal(f["qty"]) * Decimal(f["price"])
    positions = {p.symbol: Decimal(p.qty) for p in client.get_all_positions()}
    expected = {s: q for s, q in by_symbol.items() if q != 0}
    if positions != expected:
        problems.append(f"positions {positions} != sum of fills {expected}")
    cash = Decimal(client.get_account().cash)
    if cash != START_CASH - signed_notional:
        problems.append(f"cash {cash} != starting cash - signed filled notional {START_CASH - signed_notional}")
    print(f"fills: {len(fills)}, positions: { {s: str(q) for s, q in positions.items()} }, cash: {cash}")
    return problems


def fire(base_url: str, keys: tuple[str, str], total: int, threads: int) -> tuple[int, float]:
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    per_thread = total // threads
    pool = [threading.Thread(target=worker, args=(n, per_thread, base_url, keys, outcomes, lock))
            for n in range(threads)]
    began = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - began
    sent = sum(outcomes.values())
    print(f"{sent} requests from {threads} threads in {elapsed:.2f} s: {sent / elapsed:,.0f} requests/second")
    print("outcomes:", dict(sorted(outcomes.items())))
    return sent, elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_child(args: argparse.Namespace) -> list[str]:
    port = free_port()
    code = ("from bot.adapters.exchange.serve import serve_main; import sys; "
            f"sys.exit(serve_main(['--port', '{port}', '--cash', '{START_CASH}', '--seed', '7']))")
    child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    base_url, keys = f"http://127.0.0.1:{port}", ("PKLOCAL", "local-secret")
    try:
        probe = TradingClient(*keys, paper=True, url_override=base_url)
        for _ in range(200):
            try:
                probe.get_clock()
                break
            except OSError:
                time.sleep(0.05)
        print("exchange: child process, synthetic prices, partial fills off (serve defaults)")
        fire(base_url, keys, args.requests, args.threads)
        return check(probe)
    finally:
        child.terminate()
        child.wait(timeout=10)


def run_in_process(args: argparse.Namespace) -> list[str]:
    settings = ExchangeSettings(starting_cash=START_CASH, partial_fill_probability=0.1, seed=7)
    with LocalExchange(settings) as ex:
        print(f"exchange: in-process thread, prices {ex.prices_label}, partial fills 10%")
        sent, _ = fire(ex.base_url, ex.keys, args.requests, args.threads)
        problems = check(TradingClient(*ex.keys, paper=True, url_override=ex.base_url))
        if len(ex.requests) < sent:
            problems.append(f"the exchange logged {len(ex.requests)} requests, fewer than the {sent} sent")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args(argv)
    problems = run_in_process(args) if args.in_process else run_child(args)
    print("consistency check:", "OK" if not problems else "FAILED")
    for p in problems:
        print("  -", p)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
