"""Secrets never leave the environment: canary keys are grepped for in every output and file; files are 0600;
live is refused unless armed; paper talks only to Alpaca's paper host or loopback; the exchange binds loopback."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.exchange import Fault, LocalExchange
from tests.e2e.conftest import Cli
from tests.reliability.conftest import Book, make_exchange

CANARY_KEY = "PK" + "CANARY7Q2W9E4R1T6Y"  # built: no key-shaped literal in git
CANARY_SECRET = "canary-secret-Zm9vYmFyYmF6cXV4cXV1eA"
ECHO = json.dumps({"code": 50000000, "message": f"upstream failed for APCA-API-KEY-ID: {CANARY_KEY} "
                                                f"APCA-API-SECRET-KEY: {CANARY_SECRET}"})


@pytest.fixture
def canary(cli: Cli) -> Iterator[Book]:
    with make_exchange(api_key=CANARY_KEY, secret_key=CANARY_SECRET) as ex:
        book = Book(cli, ex, env={"ALPACA_API_KEY": CANARY_KEY, "ALPACA_SECRET_KEY": CANARY_SECRET})
        book.configure()
        yield book


def hits(text: str) -> list[str]:
    return [s for s in (CANARY_SECRET, CANARY_KEY) if s in text]


def test_canary_keys_appear_in_no_output_and_no_file_even_when_the_broker_echoes_them(canary: Book) -> None:
    outputs: list[str] = []
    canary.ex.faults.add(Fault("reject", method="POST", path="/v2/orders", status=403, body=ECHO))
    rejected = canary.rebalance()
    outputs += [rejected.stdout, rejected.stderr]
    assert rejected.code == 5
    canary.ex.faults.clear()
    ok = canary.rebalance()
    outputs += [ok.stdout, ok.stderr]
    assert ok.code == 0, ok.stderr
    canary.ex.faults.add(Fault("status", method="GET", path="/v2/account", status=500, body=ECHO))
    echoed = canary.rebalance()
    outputs += [echoed.stdout, echoed.stderr]
    assert echoed.code == 4 and "<redacted>" in echoed.one_line()
    canary.ex.faults.clear()
    wrong = canary.rebalance(env={"ALPACA_SECRET_KEY": CANARY_SECRET[:-4] + "XXXX"})
    outputs += [wrong.stdout, wrong.stderr]
    assert wrong.code == 2 and "refused the API keys" in wrong.one_line()
    for cmd in (("status",), ("trades",), ("doctor",), ("ledger", "rebuild", "--yes")):
        run = canary.command(*cmd)
        outputs += [run.stdout, run.stderr]

    assert [h for text in outputs for h in hits(text)] == []
    files = [p for p in canary.cli.workdir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".jsonl" for p in files) and any(p.suffix == ".sqlite" for p in files)
    leaks = [(p.name, h) for p in files if p.name != "config.yaml" for h in hits(p.read_bytes().decode("latin-1"))]
    assert leaks == []


def test_the_ledger_the_logs_and_the_lock_are_private(book: Book) -> None:
    assert book.rebalance().code == 0
    state = book.cli.workdir / ".state"
    private = [book.ledger, state / "pairbot.lock", book.cli.workdir / "logs" / "pairbot.jsonl"]

    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in private} == {p.name: "0o600" for p in private}


def test_live_is_refused_unless_armed_and_sends_nothing(book: Book) -> None:
    book.configure(mode="live")

    run = book.rebalance()

    assert run.code == 2 and "not armed" in run.one_line()
    assert run.requests == 0


@pytest.mark.parametrize("url", ["https://api.alpaca.markets", "http://10.1.2.3:8080", "https://example.com"])
def test_paper_refuses_a_host_other_than_alpacas_paper_host_or_loopback(book: Book, url: str) -> None:
    run = book.rebalance(env={"ALPACA_BASE_URL": url})

    assert run.code == 2 and "only paper-api.alpaca.markets or a loopback" in run.one_line()
    assert run.requests == 0


def test_the_exchange_binds_loopback_only_unless_told_otherwise(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot.cli", "exchange", "serve", "--host", "0.0.0.0"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=30,
                            env={"PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PATH": "/usr/bin:/bin"})

    assert result.returncode == 2, result.stdout + result.stderr
    assert "--allow-remote" in result.stderr
    with LocalExchange() as ex:
        assert ex.base_url.startswith("http://127.0.0.1:")
