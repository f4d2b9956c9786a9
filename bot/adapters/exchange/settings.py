"""The exchange's configuration: one frozen value, built by the caller (tests, CLI, benchmark)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from bot.adapters.exchange.generations import SCHEMA_MODES, SchemaMode

ClockMode = Literal["always-open", "nyse", "replay"]
CLOCK_MODES: tuple[str, ...] = ("always-open", "nyse", "replay")
Remainder = Literal["fractional", "cash"]
REMAINDERS: tuple[str, ...] = ("fractional", "cash")


@dataclass(frozen=True, slots=True)
class ExchangeSettings:
    """Everything the local exchange can be told at start; account/asset flags change at run time."""

    state_path: Path | None = None  # SQLite file shared by processes; None = in memory
    api_key: str = "PKLOCAL"
    secret_key: str = "local-secret"
    clock: ClockMode = "always-open"
    prices: str | Path = "synthetic"  # "synthetic" or a directory of <SYMBOL>.csv files
    seed: int = 7
    starting_cash: Decimal = Decimal("100000")
    half_spread_bps: Decimal = Decimal("1")
    partial_fill_probability: float = 0.0  # Alpaca paper: 0.1
    fill_latency_seconds: float = 0.0
    host: str = "127.0.0.1"
    port: int = 0
    replay_start: date | None = None  # replay mode's first session; default: latest session <= today
    now: Callable[[], datetime] | None = None  # injectable wall clock (tz-aware); default: real time
    faults_path: Path | None = None  # JSON or YAML fault script loaded at start
    reset: bool = False  # wipe the state file to a fresh account at start
    symbols: tuple[str, ...] = field(default=())  # restrict the tradable universe; () = every priced symbol
    schema: SchemaMode = "today"  # the Alpaca JSON generation served: today | legacy | drift (generations.py)
    # corporate actions (splits.csv beside CSV prices, dividends from close vs adj_close, or scheduled):
    split_remainder: Remainder = "fractional"  # fractional: qty x ratio kept (Alpaca since 2021); cash: CIL
    simulate_dividends: bool = True  # Alpaca paper does NOT simulate dividends; the local exchange does
    dividend_withholding: Decimal = Decimal(0)  # share of a long's dividend withheld, booked as DIVNRA

    def __post_init__(self) -> None:
        if self.clock not in CLOCK_MODES:
            raise ValueError(f"clock must be one of {CLOCK_MODES}, got {self.clock!r}")
        if self.schema not in SCHEMA_MODES:
            raise ValueError(f"schema must be one of {SCHEMA_MODES}, got {self.schema!r}")
        if not 0.0 <= self.partial_fill_probability <= 1.0:
            raise ValueError("partial_fill_probability must be within [0, 1]")
        if self.split_remainder not in REMAINDERS:
            raise ValueError(f"split_remainder must be one of {REMAINDERS}, got {self.split_remainder!r}")
        if not 0 <= self.dividend_withholding < 1:
            raise ValueError("dividend_withholding must be within [0, 1)")
        if self.half_spread_bps < 0 or self.starting_cash < 0 or self.fill_latency_seconds < 0:
            raise ValueError("half_spread_bps, starting_cash and fill_latency_seconds must be >= 0")

    @property
    def is_synthetic(self) -> bool:
        return isinstance(self.prices, str) and self.prices == "synthetic"
