"""The local Alpaca-compatible paper exchange (Trading API v2 + Market Data v2 over loopback HTTP)."""

from bot.exchange.app import LocalExchange
from bot.exchange.faults import Fault, FaultPlan
from bot.exchange.server import ReceivedRequest, RequestLog
from bot.exchange.settings import ExchangeSettings

__all__ = ["ExchangeSettings", "Fault", "FaultPlan", "LocalExchange", "ReceivedRequest", "RequestLog"]
