"""Reliability fixtures: pairbot rebalance as a real subprocess (mode paper) against a standalone local exchange."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.exchange import ExchangeSettings, LocalExchange
from tests.e2e.conftest import KEY, SECRET, Cli, cli, paper_env, trading_hours  # noqa: F401 - fixtures re-exported
from tests.reliability import invariants

FAST_EXECUTION = {"read_timeout_seconds": 0.75, "connect_timeout_seconds": 1, "fill_timeout_seconds": 2,
                  "poll_interval_seconds": 0.05, "read_attempts": 3}
EXIT_CODES = {0, 2, 3, 4, 5, 6, 75}


@dataclass
class Run:
    result: subprocess.CompletedProcess[str]
    posts: int  # POST /v2/orders this run sent
    requests: int  # every HTTP request this run sent
    seconds: float

    @property
    def code(self) -> int:
        return self.result.returncode

    @property
    def stderr(self) -> str:
        return self.result.stderr

    @property
    def stdout(self) -> str:
        return self.result.stdout

    def one_line(self) -> str:
        """The stop is one clear line on stderr (and no traceback)."""
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pairbot: "), self.stderr
        assert "Traceback" not in self.stderr and "internal error" not in self.stderr, self.stderr
        return lines[0]


@dataclass
class Book:
    """One work dir, one exchange, and pairbot run against them in paper mode."""

    cli: Cli
    ex: LocalExchange
    env: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def ledger(self) -> Path:
        return self.cli.workdir / ".state" / "ledger-paper.sqlite"

    def configure(self, **sections: Any) -> Path:
        self.config = {"mode": "paper", "execution": dict(FAST_EXECUTION), **sections}
        if "execution" in sections:
            self.config["execution"] = {**FAST_EXECUTION, **sections["execution"]}
        return self.cli.write_config(**self.config)

    def rebalance(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Run:
        return self.command("rebalance", *args, env=env, timeout=timeout)

    def command(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Run:
        before_posts, before = self.ex.requests.count("POST", "/v2/orders"), len(self.ex.requests)
        start = time.monotonic()
        result = self.cli.run(*args, env={**paper_env(self.ex), **self.env, **(env or {})}, timeout=timeout)
        run = Run(result, self.ex.requests.count("POST", "/v2/orders") - before_posts,
                  len(self.ex.requests) - before, time.monotonic() - start)
        assert run.code in EXIT_CODES or run.code == -9, f"exit {run.code} is not in the contract: {run.stderr}"
        return run

    def check(self, *, settled: bool = True) -> invariants.BrokerView:
        return invariants.check(self.ex, KEY, SECRET, self.ledger, settled=settled)

    def converge(self) -> Run:
        """A clean rerun trades to target; one more sends nothing and says the book is within band."""
        self.ex.faults.clear()
        rerun = self.rebalance()
        assert rerun.code == 0, rerun.stderr
        self.check()
        last = self.rebalance()
        assert last.code == 0 and "within band" in last.stdout, last.stdout + last.stderr
        assert last.posts == 0
        self.check()
        return rerun


def make_exchange(**overrides: Any) -> LocalExchange:
    settings = ExchangeSettings(**{"state_path": None, "api_key": KEY, "secret_key": SECRET, "now": trading_hours(),
                                   "starting_cash": Decimal("100000"), "partial_fill_probability": 0.0,
                                   **overrides})
    return LocalExchange(settings)


@pytest.fixture
def exchange() -> Iterator[LocalExchange]:
    with make_exchange() as ex:
        yield ex


@pytest.fixture
def book(cli: Cli, exchange: LocalExchange) -> Book:  # noqa: F811 - the fixture named cli
    b = Book(cli, exchange)
    b.configure()
    return b
