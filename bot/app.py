"""The composition root for commands that talk to a broker: config, lock, logging, ledger, endpoint, broker."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from bot.bootstrap import Endpoint, broker_for, endpoint_for
from bot.broker.port import Broker
from bot.config import Config, load_config
from bot.ledger import Ledger
from bot.lock import exclusive_lock
from bot.logging import Redactor, configure_logging

CRASH_VARIABLE = "PAIRBOT_TEST_CRASH_AT"  # test-only: "<checkpoint>[:<nth hit>]" kills the process there


@dataclass
class App:
    config: Config
    config_path: Path
    endpoint: Endpoint
    broker: Broker
    ledger: Ledger
    run_id: str
    log_path: Path


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def crash_checkpoint() -> Callable[[str], None]:
    """The crash matrix's hook: SIGKILL ourselves at a named checkpoint (never set outside tests)."""
    spec = os.environ.get(CRASH_VARIABLE, "")
    name, _, nth = spec.partition(":")
    wanted, hits = int(nth or 1), {"n": 0}

    def checkpoint(point: str) -> None:
        if spec and point == name:
            hits["n"] += 1
            if hits["n"] == wanted:
                os.kill(os.getpid(), 9)

    return checkpoint


@contextmanager
def open_app(config_path: Path, *, lock: bool = True, open_ledger: bool = True) -> Iterator[App]:
    """Everything a broker command needs; open_ledger=False leaves the ledger closed (for `ledger rebuild`)."""
    config = load_config(config_path)
    with ExitStack() as stack:
        state_dir = config.paths.state_dir
        if lock:
            stack.enter_context(exclusive_lock(state_dir / "pairbot.lock"))
        crash_checkpoint()("after_lock")
        redactor = Redactor()
        log_path = configure_logging(config.paths.logs, redactor=redactor)
        ledger = stack.enter_context(Ledger(config.ledger_path())) if open_ledger else Ledger(config.ledger_path())
        stack.callback(ledger.close)
        endpoint = stack.enter_context(endpoint_for(config))
        redactor.add(secret=endpoint.secret_key, key_id=endpoint.api_key)
        run_id = new_run_id(datetime.now(UTC))
        structlog.contextvars.bind_contextvars(run_id=run_id, mode=config.mode)
        broker = broker_for(config, endpoint)
        yield App(config=config, config_path=config_path, endpoint=endpoint, broker=broker, ledger=ledger,
                  run_id=run_id, log_path=log_path)
