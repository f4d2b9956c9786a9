"""The composition root: config, lock, logging, ledger, endpoint (the embedded exchange or Alpaca) and broker,
built once for every command that talks to a broker; the mode guard and the keys from the environment."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from bot.adapters.broker.alpaca import AlpacaBroker, AlpacaSettings
from bot.adapters.broker.port import Broker
from bot.adapters.ledger import Ledger
from bot.adapters.logs import Redactor, configure_logging
from bot.adapters.net import is_loopback_host, key_problem
from bot.config import Config, load_config
from bot.errors import ConfigError
from bot.live.lock import exclusive_lock

PAPER_HOST = "paper-api.alpaca.markets"
LIVE_HOST = "api.alpaca.markets"
DATA_HOST = "data.alpaca.markets"
LIVE_ARMING_VARIABLE = "PAIRBOT_LIVE_ACCOUNT"


@dataclass(frozen=True, slots=True)
class Endpoint:
    api_key: str
    secret_key: str
    base_url: str
    data_url: str
    expected_account: str | None = None  # live mode: /account must return this number


def is_loopback(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "")


def _check_url(url: str, allowed_host: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} {url!r} is not an http(s) URL")
    if parts.path not in ("", "/"):
        raise ConfigError(f"{what} {url!r} must be scheme://host[:port] only (alpaca-py adds /v2 itself)")
    if parts.hostname != allowed_host and not is_loopback(url):
        raise ConfigError(f"{what} {url!r}: only {allowed_host} or a loopback address is allowed in this mode")
    if parts.hostname == allowed_host and parts.scheme != "https":
        raise ConfigError(f"{what} {url!r} must use https")
    return url.rstrip("/")


def remote_endpoint(config: Config, env: Mapping[str, str]) -> Endpoint:
    """paper and live: keys from the environment only; hosts pinned to Alpaca's or loopback."""
    key, secret = env.get("ALPACA_API_KEY", ""), env.get("ALPACA_SECRET_KEY", "")
    if not key or not secret:
        raise ConfigError(f"mode {config.mode} needs ALPACA_API_KEY and ALPACA_SECRET_KEY in the environment")
    for name, value in (("ALPACA_API_KEY", key), ("ALPACA_SECRET_KEY", secret)):
        problem = key_problem(name, value)
        if problem is not None:
            raise ConfigError(problem)
    expected = None
    if config.mode == "live":
        expected = env.get(LIVE_ARMING_VARIABLE, "")
        if not expected:
            raise ConfigError(f"mode live is not armed: set {LIVE_ARMING_VARIABLE} to the live account number")
    trading_host = LIVE_HOST if config.mode == "live" else PAPER_HOST
    base = env.get("ALPACA_BASE_URL") or config.broker.base_url or f"https://{trading_host}"
    data = env.get("ALPACA_DATA_URL") or config.broker.data_url or f"https://{DATA_HOST}"
    return Endpoint(api_key=key, secret_key=secret, base_url=_check_url(base, trading_host, "ALPACA_BASE_URL"),
                    data_url=_check_url(data, DATA_HOST, "ALPACA_DATA_URL"), expected_account=expected)


def broker_for(config: Config, endpoint: Endpoint) -> AlpacaBroker:
    ex = config.execution
    broker = AlpacaBroker(AlpacaSettings(
        api_key=endpoint.api_key, secret_key=endpoint.secret_key, base_url=endpoint.base_url,
        data_url=endpoint.data_url, feed=config.broker.feed, connect_timeout=ex.connect_timeout_seconds,
        read_timeout=ex.read_timeout_seconds, read_attempts=ex.read_attempts,
    ))
    if endpoint.expected_account is not None:
        actual = broker.account_number()
        if actual != endpoint.expected_account:
            raise ConfigError(f"live account mismatch: {LIVE_ARMING_VARIABLE}={endpoint.expected_account}, "
                              f"the broker reports {actual}; nothing was sent")
    return broker


@contextmanager
def local_endpoint(config: Config) -> Iterator[Endpoint]:
    """Start the embedded exchange (state shared across runs in a SQLite file) on 127.0.0.1:0."""
    from bot.adapters.exchange import ExchangeSettings, LocalExchange  # only local mode pays for importing it

    key, secret = "LOCAL" + secrets.token_hex(8).upper(), secrets.token_urlsafe(24)
    local = config.local
    prices: str | Path = local.prices if local.prices == "synthetic" else Path(local.prices)
    settings = ExchangeSettings(
        state_path=local.state, api_key=key, secret_key=secret, clock=local.clock, prices=prices,
        seed=local.seed, starting_cash=local.starting_cash, half_spread_bps=local.half_spread_bps,
        partial_fill_probability=local.partial_fill_probability,
    )
    exchange = LocalExchange(settings)
    url = exchange.start()
    try:
        yield Endpoint(api_key=key, secret_key=secret, base_url=url, data_url=url)
    finally:
        exchange.stop()


@contextmanager
def endpoint_for(config: Config, env: Mapping[str, str] | None = None) -> Iterator[Endpoint]:
    if config.mode == "local":
        with local_endpoint(config) as ep:
            yield ep
    else:
        yield remote_endpoint(config, os.environ if env is None else env)


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
