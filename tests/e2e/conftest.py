"""End-to-end fixtures: pairbot as a real subprocess against a real local exchange over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.adapters.exchange import ExchangeSettings, LocalExchange

KEY, SECRET = "PKTESTE2E0000001", "e2e-secret-not-real"
NEW_YORK = ZoneInfo("America/New_York")
IN_WINDOW = datetime(2026, 12, 2, 10, 45, tzinfo=NEW_YORK)  # a Wednesday, inside the default 10:30-11:30 window


class TradingHours:
    """A clock for a standalone exchange: from `start`, moving at the pace of the wall clock. Paper-mode runs
    check the trading window against the broker's clock, so these tests never depend on the time of day."""

    def __init__(self, start: datetime = IN_WINDOW) -> None:
        self.jump_to(start)

    def jump_to(self, start: datetime) -> None:
        """Move the clock to `start` (a later day, say), and on from there."""
        self.start, self.origin = start, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.origin)


def trading_hours(start: datetime = IN_WINDOW) -> TradingHours:
    return TradingHours(start)


@dataclass
class Cli:
    workdir: Path
    env: dict[str, str]

    def write_config(self, **sections: Any) -> Path:
        base: dict[str, Any] = {
            "mode": "local",
            "paths": {"state_dir": ".state", "ledger": ".state/ledger-{mode}.sqlite", "logs": "logs",
                      "kill_switch": ".state/KILL"},
            "local": {"state": ".state/exchange.sqlite", "partial_fill_probability": 0.0},
            "execution": {"fill_timeout_seconds": 10, "poll_interval_seconds": 0.05, "read_attempts": 2},
        }
        for name, value in sections.items():
            if isinstance(value, dict) and isinstance(base.get(name), dict):
                base[name] = {**base[name], **value}
            else:
                base[name] = value
        path = self.workdir / "config.yaml"
        path.write_text(yaml.safe_dump(base))
        return path

    def run(self, *args: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=self.workdir, text=True,
                              capture_output=True, env={**self.env, **(env or {})}, timeout=timeout)

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "bot.cli", *args], cwd=self.workdir, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**self.env, **(env or {})})

    @classmethod
    def in_dir(cls, workdir: Path) -> Self:
        """A clean environment (no ALPACA_/PAIRBOT_ variables) that imports this checkout."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "PAIRBOT_"))}
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
        return cls(workdir=workdir, env=env)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli.in_dir(tmp_path)


@pytest.fixture
def exchange() -> Iterator[LocalExchange]:
    """A standalone local exchange the test can inspect, for paper mode pointed at loopback."""
    ex = LocalExchange(ExchangeSettings(state_path=None, api_key=KEY, secret_key=SECRET, now=trading_hours(),
                                        starting_cash=Decimal("100000"), partial_fill_probability=0.0))
    ex.start()
    yield ex
    ex.stop()


def paper_env(ex: LocalExchange) -> dict[str, str]:
    return {"ALPACA_API_KEY": KEY, "ALPACA_SECRET_KEY": SECRET, "ALPACA_BASE_URL": ex.base_url,
            "ALPACA_DATA_URL": ex.base_url}


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    posts: int  # POST /v2/orders during the command

    def one_line(self) -> str:
        """A stop is one line on stderr starting 'pairbot: ', never a traceback."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pairbot: "), self.err
        assert "Traceback" not in self.err + self.out and "internal error" not in self.err, self.err
        return lines[0]


@dataclass
class PaperBook:
    """pairbot run in-process (bot.cli.main) in paper mode against a standalone local exchange over HTTP."""

    workdir: Path
    ex: LocalExchange
    capsys: pytest.CaptureFixture[str]

    def configure(self, **sections: Any) -> Path:
        return Cli(self.workdir, {}).write_config(**{"mode": "paper", **sections})

    def __call__(self, *args: str) -> Outcome:
        from bot.cli import main

        self.capsys.readouterr()
        before = self.ex.requests.count("POST", "/v2/orders")
        code = main(list(args))
        captured = self.capsys.readouterr()
        return Outcome(code, captured.out, captured.err, self.ex.requests.count("POST", "/v2/orders") - before)

    def client(self) -> Any:
        from alpaca.trading.client import TradingClient

        return TradingClient(KEY, SECRET, paper=True, url_override=self.ex.base_url)

    def positions(self) -> dict[str, Decimal]:
        """The broker's positions, read as raw JSON (alpaca-py's models cannot read every schema mode)."""
        return {p["symbol"]: Decimal(p["qty"]) for p in self.client().get("/positions")}

    def next_day(self, days: int = 1, at: tuple[int, int] = (10, 45)) -> None:
        """Move the exchange's clock to a later day, inside the trading window."""
        clock = self.ex.settings.now
        assert isinstance(clock, TradingHours)
        day = clock().astimezone(NEW_YORK).date() + timedelta(days=days)
        clock.jump_to(datetime(day.year, day.month, day.day, *at, tzinfo=NEW_YORK))

    def hand_order(self, symbol: str, qty: int, side: str) -> None:
        """An order placed by a person, not by pairbot (no pb- client order id), settled at once."""
        body = {"symbol": symbol, "qty": str(qty), "side": side, "type": "market", "time_in_force": "day"}
        self.client().post("/orders", body)
        self.ex.settle()


@pytest.fixture
def paper(tmp_path: Path, exchange: LocalExchange, capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch) -> PaperBook:
    monkeypatch.chdir(tmp_path)
    for name, value in paper_env(exchange).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PAIRBOT_LIVE_ACCOUNT", raising=False)
    book = PaperBook(tmp_path, exchange, capsys)
    book.configure()
    return book
