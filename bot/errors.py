"""The error family, ordered by what the caller must do; cli.main maps each to an exit code."""

from __future__ import annotations


class BotError(Exception):
    """Base. Every subclass names an exit code; the message is one line for a human."""

    exit_code = 1


class ConfigError(BotError):
    """Fix config.yaml, the command line, the keys or an input file. Nothing was sent."""

    exit_code = 2


class GateRefused(BotError):
    """A pre-trade gate or a risk check refused the plan. Nothing was sent."""

    exit_code = 3


class BrokerUnavailable(BotError):
    """Network, timeout, 5xx or 429 after retries. Safe to rerun."""

    exit_code = 4


class OrderRejected(BotError):
    """The broker refused an order, or an order was left incomplete. Needs attention."""

    exit_code = 5


class ReconciliationBreak(BotError):
    """The ledger and the broker disagree, or the ledger is unusable. Nothing was sent."""

    exit_code = 6


class RunLocked(BotError):
    """Another run holds the lock. Nothing was sent."""

    exit_code = 75


EXIT_OK = 0


class DataError(ConfigError):
    """A price file or other input is malformed: names the file, row and date. Nothing was sent."""
