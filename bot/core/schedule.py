"""The rebalance calendar: period keys, whether this period's calendar rebalance is due, and run keys."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

FREQUENCIES = ("monthly", "quarterly", "annual")
MAX_RUN_KEY_LEN = 24  # "pb-" + run key + "-SYMBL-bto-NN" must stay within Alpaca's 48 characters
FINGERPRINT_LEN = 6
_KEY_CHARS = re.compile(r"[A-Za-z0-9-]+")


def period_key(d: date, frequency: str) -> str:
    """The calendar period holding d: "2026-11" monthly, "2026Q4" quarterly, "2026" annual."""
    if frequency == "monthly":
        return f"{d.year}-{d.month:02d}"
    if frequency == "quarterly":
        return f"{d.year}Q{(d.month - 1) // 3 + 1}"
    if frequency == "annual":
        return f"{d.year}"
    raise ValueError(f"unknown rebalance frequency {frequency!r}; expected one of {', '.join(FREQUENCIES)}")


def calendar_due(today: date, frequency: str, done_periods: Collection[str]) -> str | None:
    """Today's period key while that period has had no calendar rebalance, else None.

    Due on any day of the period, not only its first session, so a missed first session is
    caught up by the next run.
    """
    key = period_key(today, frequency)
    return None if key in done_periods else key


def first_session_of_period(sessions: Sequence[date], key: str, frequency: str) -> date | None:
    return min((s for s in sessions if period_key(s, frequency) == key), default=None)


def next_calendar_rebalance(
    today: date, sessions: Sequence[date], frequency: str, done_periods: Collection[str]
) -> date | None:
    """The first session from today on whose period is not done: today's own period if it was missed.

    None when the sessions given run out first.
    """
    upcoming = sorted(s for s in sessions if s >= today)
    return next((s for s in upcoming if period_key(s, frequency) not in done_periods), None)


def run_key(decision_key: str, config_fingerprint: str) -> str:
    """Names one decision for client order ids: "2026Q4-a1b2c3" (period + short config hash)."""
    fingerprint = config_fingerprint[:FINGERPRINT_LEN].lower()
    for part, what in ((decision_key, "decision key"), (fingerprint, "config fingerprint")):
        if not _KEY_CHARS.fullmatch(part):
            raise ValueError(f"{what} must be letters, digits and '-', got {part!r}")
    key = f"{decision_key}-{fingerprint}"
    if len(key) > MAX_RUN_KEY_LEN:
        raise ValueError(f"run key {key!r} is longer than {MAX_RUN_KEY_LEN} characters")
    return key


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether to rebalance now and why: calendar, accepted (a change a person took as pairbot's), drift, none."""

    kind: str
    why: str
    key: str | None = None  # names the decision in run keys; None when there is nothing to do
    period: str | None = None  # the calendar period, for kind "calendar"

    @property
    def trades(self) -> bool:
        return self.key is not None


def decide(
    *,
    today: date,
    frequency: str,
    done_periods: Collection[str],
    accepted: Sequence[tuple[int, str]],
    breaches: Sequence[str],
    max_leg_drift: Decimal,
    leg_band: Decimal,
) -> Decision:
    """The decision rule shared by the run and its previews: calendar first, then accepted changes, then drift.

    accepted: (adjustment id, symbol) of changes not yet traded back to target.
    """
    period = calendar_due(today, frequency, done_periods)
    if period is not None:
        return Decision("calendar", f"{frequency} rebalance for {period} not done yet", period, period)
    if accepted:
        symbols = ", ".join(sorted({s for _, s in accepted}))
        return Decision("accepted", f"back to target after the accepted change in {symbols}",
                        f"a{max(i for i, _ in accepted)}")
    if breaches:
        return Decision("drift", "; ".join(breaches), f"d{today:%Y%m%d}")
    return Decision("none", f"within band: largest leg drift {max_leg_drift * 100:.2f} pts "
                            f"<= {leg_band * 100:.2f} pts; {period_key(today, frequency)} already rebalanced")
