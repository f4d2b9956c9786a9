"""The local Alpaca-compatible paper exchange (Trading API v2 + Market Data v2 over loopback HTTP)."""

from bot.adapters.exchange.app import LocalExchange
from bot.adapters.exchange.faults import Fault, FaultPlan
from bot.adapters.exchange.server import ReceivedRequest, RequestLog
from bot.adapters.exchange.settings import ExchangeSettings

__all__ = ["ExchangeSettings", "Fault", "FaultPlan", "LocalExchange", "ReceivedRequest", "RequestLog"]
