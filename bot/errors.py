"""The error family, ordered by what the caller must do; cli.main maps each to an exit code."""

from __future__ import annotations


class BotError(Exception):
    """Base. Every subclass names an exit code and an outcome word; the message is one line for a human."""

    exit_code = 1
    outcome = "failed"


class ConfigError(BotError):
    """Fix config.yaml, the command line, the keys or an input file. Nothing was sent."""

    exit_code = 2
    outcome = "bad_input"


class GateRefused(BotError):
    """A pre-trade gate or a risk check refused the plan. Nothing was sent."""

    exit_code = 3
    outcome = "refused"


class BrokerUnavailable(BotError):
    """Network, timeout, 5xx or 429 after retries. Safe to rerun."""

    exit_code = 4
    outcome = "broker_unavailable"


class OrderRejected(BotError):
    """The broker refused an order, or an order was left incomplete. Needs attention."""

    exit_code = 5
    outcome = "rejected"


class ReconciliationBreak(BotError):
    """The ledger and the broker disagree, or the ledger is unusable. Nothing was sent."""

    exit_code = 6
    outcome = "ledger_break"


class RunLocked(BotError):
    """Another run holds the lock. Nothing was sent."""

    exit_code = 75
    outcome = "locked"


class Interrupted(BotError):
    """SIGINT or SIGTERM: the run stopped at its next safe point (no order half-sent). A rerun converges."""

    exit_code = 130
    outcome = "interrupted"

    def __init__(self, message: str, *, signal_number: int = 2) -> None:
        super().__init__(message)
        self.exit_code = 128 + signal_number  # 130 for SIGINT, 143 for SIGTERM, as shells report them


EXIT_OK = 0


class DataError(ConfigError):
    """A price file or other input is malformed: names the file, row and date. Nothing was sent."""
