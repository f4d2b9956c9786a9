"""The strategy registry: config name -> strategy class. bot.config builds them from validated parameters."""

from __future__ import annotations

from collections.abc import Mapping

from strategies.base import MarketView, Strategy
from strategies.overlay import OverlayStrategy, ReplicaStrategy
from strategies.pair import Hedge, PairStrategy

__all__ = [
    "STRATEGIES",
    "Hedge",
    "MarketView",
    "OverlayStrategy",
    "PairStrategy",
    "ReplicaStrategy",
    "Strategy",
]

STRATEGIES: Mapping[str, type] = {
    "pair": PairStrategy,
    "overlay": OverlayStrategy,
    "replica": ReplicaStrategy,
}
