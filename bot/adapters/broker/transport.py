"""alpaca-py's transport, made safe: settings, (connect, read) timeouts, bounded retries, errors in our words."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from bot.errors import BotError, BrokerUnavailable, ConfigError, OrderRejected

Wait = Callable[[RetryCallState], float]


class RateLimited(BrokerUnavailable):
    """HTTP 429; carries the server's hint of when to come back."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class AlpacaSettings:
    api_key: str
    secret_key: str
    base_url: str
    data_url: str
    feed: str = "iex"
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    read_attempts: int = 4
    max_wait_seconds: float = 8.0


def honour_retry_after(fallback: Wait, cap: float) -> Wait:
    """Wait what a 429 asked for (bounded by cap), else the fallback backoff."""

    def wait(state: RetryCallState) -> float:
        err = state.outcome.exception() if state.outcome else None
        if isinstance(err, RateLimited) and err.retry_after is not None:
            return max(0.0, min(err.retry_after, cap))
        return fallback(state)

    return wait


def read_retry(attempts: int, wait: Wait | None = None, cap: float = 8.0) -> Retrying:
    base = wait if wait is not None else wait_exponential(multiplier=0.25, max=cap)
    return Retrying(stop=stop_after_attempt(attempts), wait=honour_retry_after(base, cap), reraise=True,
                    retry=retry_if_exception_type(BrokerUnavailable))


def add_timeout(session: requests.Session, timeout: tuple[float, float]) -> None:
    original = session.request

    def request(method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", timeout)
        return original(method, url, **kwargs)

    session.request = request  # type: ignore[method-assign,assignment]


def error_parts(err: APIError) -> tuple[int, int | None, str]:
    """Status, Alpaca code and message of an APIError; safe on HTML or empty bodies."""
    status = err.status_code or 0
    try:
        body = json.loads(str(err))
    except (ValueError, TypeError):
        return status, None, " ".join(str(err).split())[:160] or f"HTTP {status}"
    if not isinstance(body, dict):
        return status, None, str(body)[:160]
    code = body.get("code")
    return status, code if isinstance(code, int) else None, str(body.get("message", ""))


def _retry_after(err: APIError) -> float | None:
    headers = err.response.headers if err.response is not None else {}
    if "Retry-After" in headers:
        try:
            return float(headers["Retry-After"])
        except ValueError:
            return None
    if "X-Ratelimit-Reset" in headers:
        try:
            return float(headers["X-Ratelimit-Reset"]) - datetime.now(UTC).timestamp()
        except ValueError:
            return None
    return None


def translate(err: Exception, what: str) -> BotError:
    """Vendor errors become ours, ordered by what the caller must do."""
    if isinstance(err, APIError):
        status, code, message = error_parts(err)
        if status == 429:
            return RateLimited(f"{what}: rate limited by the broker (429)", _retry_after(err))
        if status >= 500:
            return BrokerUnavailable(f"{what}: broker error {status}: {message}")
        if status == 401 or code == 40110000 or (status == 403 and "forbidden" in message.lower()):
            return ConfigError(f"{what}: the broker refused the API keys ({status}: {message})")
        return OrderRejected(f"{what}: refused by the broker ({status}{f' {code}' if code else ''}: {message})")
    if isinstance(err, requests.exceptions.JSONDecodeError):
        return BrokerUnavailable(f"{what}: unexpected reply from the broker: the body is not JSON")
    if isinstance(err, requests.exceptions.Timeout):
        return BrokerUnavailable(f"{what}: no answer within the timeout")
    if isinstance(err, requests.exceptions.RequestException):
        return BrokerUnavailable(f"{what}: cannot reach the broker ({type(err).__name__})")
    raise err


def is_duplicate_id(err: APIError) -> bool:
    status, code, message = error_parts(err)
    return status == 422 and (code == 40010001 or "client_order_id" in message) and "unique" in message

