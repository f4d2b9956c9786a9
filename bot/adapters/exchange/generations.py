"""The Alpaca schema generation the exchange serves: today (default), legacy, or drift.

models.py renders today's shapes (REFERENCE.md Part C1): assets carry borrow_status ETB/HTB and the
2026-06-24 fields (min_order_size, min_trade_increment, price_increment) and no easy_to_borrow; the
account has crypto_status and no PDT fields; positions carry swap_rate. This module turns them into:
- legacy: easy_to_borrow and the PDT fields present; no borrow_status nor the 2026-06-24 fields;
  non-trade activities with JSON numbers (qty, price, net_amount, per_share_amount) and their booking
  time as transaction_time rather than created_at;
- drift: today's shapes plus fields and enum values no client knows yet, on every object the bot
  reads; orders also sit in an unknown status for their first reads (the engine's review, see state.py),
  and each split books one more activity of a type (and sub type) no client knows (entries.notice).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

JSON = dict[str, Any]
SchemaMode = Literal["today", "legacy", "drift"]
SCHEMA_MODES: tuple[str, ...] = ("today", "legacy", "drift")
REVIEW_REQUESTS = 2  # drift: a new order shows the unknown status on this many requests after its POST

DRIFT_FIELDS: dict[str, JSON] = {
    "account": {"intraday_margin_excess": "0", "risk_profile": {"tier": 1, "reviewed": True}},
    "asset": {"listing_venue": "ARCX", "borrow_rate_bps": None},
    "position": {"cost_basis_method": "fifo"},
    "order": {"routing_venue": "SMART", "risk_checks": ["buying_power"]},
    "clock": {"session_phase": "regular"},
    "calendar": {"session_kind": "regular"},
    "activity": {"execution_venue": "MEMX"},
    "quote": {"qs": 7},
    "bar": {"session": "regular"},
}
DRIFT_VALUES: dict[str, JSON] = {  # values outside today's enums that change nothing for a client
    "account": {"crypto_status": "RESTRICTED"},
    "asset": {"exchange": "MEMX"},
    "position": {"asset_class": "us_etf", "exchange": "MEMX"},
    "order": {"asset_class": "us_etf"},
}
_AFTER_2026_06_24 = {"asset": ("min_order_size", "min_trade_increment", "price_increment"),
                     "account": ("crypto_status",), "position": ("swap_rate", "avg_entry_swap_rate")}


def _legacy_asset(obj: JSON) -> JSON:
    out = _without(obj, "asset")
    out["easy_to_borrow"] = out.pop("borrow_status") == "ETB"
    return out


def _legacy_account(obj: JSON) -> JSON:
    out = _without(obj, "account")
    out |= {"pattern_day_trader": False, "daytrade_count": 0, "daytrading_buying_power": obj["buying_power"]}
    return out


def _without(obj: JSON, kind: str) -> JSON:
    return {k: v for k, v in obj.items() if k not in _AFTER_2026_06_24.get(kind, ())}


_NUMBERS = ("qty", "price", "net_amount", "per_share_amount")


def _legacy_activity(obj: JSON) -> JSON:
    if obj.get("activity_type") == "FILL":
        return obj
    out = {k: (float(v) if k in _NUMBERS and v is not None else v) for k, v in obj.items() if k != "created_at"}
    out["transaction_time"] = obj.get("created_at")
    return out


_LEGACY: dict[str, Callable[[JSON], JSON]] = {
    "asset": _legacy_asset,
    "account": _legacy_account,
    "position": lambda obj: _without(obj, "position"),
    "activity": _legacy_activity,
}


def render(kind: str, obj: JSON, mode: str) -> JSON:
    """One object of one kind (account, asset, position, order, clock, calendar, activity, quote, bar)."""
    if mode == "legacy":
        convert = _LEGACY.get(kind)
        return convert(obj) if convert is not None else obj
    if mode == "drift":
        return obj | DRIFT_FIELDS.get(kind, {}) | DRIFT_VALUES.get(kind, {})
    return obj
