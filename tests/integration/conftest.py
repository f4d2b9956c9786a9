"""Shared by the adapter's tests: an AlpacaBroker on a local exchange, with fast retries."""

from __future__ import annotations

from tenacity import wait_none

from bot.adapters.broker.alpaca import AlpacaBroker, AlpacaSettings, read_retry
from bot.adapters.exchange import LocalExchange


def broker_for(ex: LocalExchange, *, secret: str | None = None, read_timeout: float = 2.0,
               attempts: int = 3) -> AlpacaBroker:
    """The exchange's own keys (or a wrong secret), a short timeout, retries without waiting."""
    key, own_secret = ex.keys
    settings = AlpacaSettings(api_key=key, secret_key=own_secret if secret is None else secret, base_url=ex.base_url,
                              data_url=ex.base_url, connect_timeout=1.0, read_timeout=read_timeout,
                              read_attempts=attempts)
    return AlpacaBroker(settings, retry=read_retry(attempts, wait=wait_none()))
