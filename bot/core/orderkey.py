"""The client order id as a value: it formats, parses and checks itself (pb-{run key}-{symbol}-{intent}-{n})."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.domain import MAX_CLIENT_ORDER_ID_LEN as MAX_LEN
from bot.core.domain import OUR_PREFIX, Symbol

_KEY = re.compile(rf"^{re.escape(OUR_PREFIX)}(?P<run>.+)-(?P<symbol>[A-Z0-9.]+)-(?P<intent>[bs]t[oc])-(?P<n>\d+)$")
_PERIOD = re.compile(r"^\d{4}(Q[1-4]|-\d{2})?$")  # calendar decisions: 2026Q4, 2026-11, 2026
_DRIFT = re.compile(r"^d\d{8}$")  # d20261202
_ACCEPTED = re.compile(r"^a\d+$")  # a7: back to target after accepted adjustment 7


@dataclass(frozen=True, slots=True)
class OrderKey:
    run_key: str  # names the decision: "2026Q4-a1b2c3" (decision key + config fingerprint)
    symbol: Symbol
    intent_code: str  # bto, btc, sto, stc
    attempt: int = 1

    def __post_init__(self) -> None:
        if len(str(self)) > MAX_LEN:
            raise ValueError(f"client_order_id {str(self)!r} is longer than {MAX_LEN} characters")

    def __str__(self) -> str:
        return f"{OUR_PREFIX}{self.run_key}-{self.symbol}-{self.intent_code}-{self.attempt}"

    @property
    def leg(self) -> str:
        """The leg of one decision, the same for every attempt."""
        return f"{self.run_key}-{self.symbol}-{self.intent_code}"

    @property
    def decision_key(self) -> str:
        return self.run_key.rpartition("-")[0]

    @property
    def calendar_period(self) -> str | None:
        """The calendar period this order rebalanced for ("2026Q4"), or None for drift and accepted decisions."""
        return self.decision_key if _PERIOD.match(self.decision_key) else None

    @property
    def decision_kind(self) -> str:
        """The kind of decision the key names, as the run recorded it: calendar, drift or accepted."""
        if self.calendar_period is not None:
            return "calendar"
        if _DRIFT.match(self.decision_key):
            return "drift"
        return "accepted" if _ACCEPTED.match(self.decision_key) else "unknown"

    @classmethod
    def parse(cls, client_order_id: str) -> OrderKey | None:
        """The key of one of pairbot's ids, or None for any other id."""
        m = _KEY.match(client_order_id)
        if m is None:
            return None
        return cls(m["run"], Symbol(m["symbol"]), m["intent"], int(m["n"]))
