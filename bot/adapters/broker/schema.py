"""What the broker's JSON looked like: its schema generation, and what the tolerant mapping let through.

The field and value lists are the ones pairbot knows (REFERENCE.md sections 6 and 7, and Part C1 for the
2026 changes); anything else is tolerated, recorded here, and logged once by the adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PDT_FIELDS = ("pattern_day_trader", "daytrade_count", "daytrading_buying_power")
DEPRECATED_FIELDS: Mapping[str, tuple[str, ...]] = {"asset": ("easy_to_borrow",), "account": PDT_FIELDS}

KNOWN_FIELDS: Mapping[str, frozenset[str]] = {
    "account": frozenset({
        "id", "account_number", "status", "crypto_status", "crypto_tier", "currency", "buying_power",
        "regt_buying_power", "daytrading_buying_power", "effective_buying_power", "non_marginable_buying_power",
        "options_buying_power", "bod_dtbp", "cash", "accrued_fees", "pending_transfer_in", "pending_transfer_out",
        "pending_reg_taf_fees", "portfolio_value", "equity", "last_equity", "long_market_value",
        "short_market_value", "position_market_value", "initial_margin", "maintenance_margin",
        "last_maintenance_margin", "sma", "multiplier", "shorting_enabled", "pattern_day_trader", "daytrade_count",
        "trading_blocked", "transfers_blocked", "account_blocked", "trade_suspended_by_user", "created_at",
        "options_approved_level", "options_trading_level", "balance_asof", "intraday_adjustments",
        "admin_configurations", "user_configurations",
    }),
    "asset": frozenset({
        "id", "class", "exchange", "symbol", "name", "status", "tradable", "marginable", "shortable",
        "easy_to_borrow", "borrow_status", "fractionable", "maintenance_margin_requirement",
        "margin_requirement_long", "margin_requirement_short", "attributes", "min_order_size",
        "min_trade_increment", "price_increment", "cusip",
    }),
    "position": frozenset({
        "asset_id", "symbol", "exchange", "asset_class", "asset_marginable", "qty", "qty_available",
        "avg_entry_price", "side", "market_value", "cost_basis", "unrealized_pl", "unrealized_plpc",
        "unrealized_intraday_pl", "unrealized_intraday_plpc", "current_price", "lastday_price", "change_today",
        "swap_rate", "avg_entry_swap_rate", "usd",
    }),
    "order": frozenset({
        "id", "client_order_id", "created_at", "updated_at", "submitted_at", "filled_at", "expired_at",
        "expires_at", "canceled_at", "failed_at", "replaced_at", "replaced_by", "replaces", "asset_id", "symbol",
        "asset_class", "notional", "qty", "filled_qty", "filled_avg_price", "order_class", "order_type", "type",
        "side", "position_intent", "time_in_force", "limit_price", "stop_price", "status", "extended_hours",
        "legs", "trail_percent", "trail_price", "hwm", "subtag", "source", "ratio_qty",
    }),
    "clock": frozenset({"timestamp", "is_open", "next_open", "next_close"}),
    "calendar": frozenset({"date", "open", "close", "session_open", "session_close", "settlement_date"}),
    "activity": frozenset({
        "id", "activity_type", "transaction_time", "type", "price", "qty", "side", "symbol", "leaves_qty",
        "order_id", "cum_qty", "order_status",  # FILL; the non-trade activities:
        "date", "net_amount", "description", "status", "per_share_amount", "entry_sub_type", "activity_sub_type",
        "created_at", "cusip", "group_id",
    }),
    "quote": frozenset({"t", "ap", "as", "ax", "bp", "bs", "bx", "c", "z"}),
    "bar": frozenset({"t", "o", "h", "l", "c", "v", "n", "vw"}),
}

_ORDER_STATUSES = frozenset({
    "new", "partially_filled", "filled", "done_for_day", "canceled", "expired", "replaced", "pending_cancel",
    "pending_replace", "pending_review", "accepted", "pending_new", "accepted_for_bidding", "stopped",
    "rejected", "suspended", "calculated", "held",
})
_ASSET_CLASSES = frozenset({"us_equity", "us_option", "crypto", "crypto_perp"})
_EXCHANGES = frozenset({"AMEX", "ARCA", "ASCX", "BATS", "NYSE", "NASDAQ", "NYSEARCA", "FTXU", "CBSE", "GNSS",
                        "ERSX", "OTC", "CRYPTO"})
_ACCOUNT_STATUSES = frozenset({
    "ACCOUNT_CLOSED", "ACCOUNT_UPDATED", "ACTION_REQUIRED", "ACTIVE", "AML_REVIEW", "APPROVAL_PENDING",
    "APPROVED", "DISABLED", "DISABLE_PENDING", "EDITED", "INACTIVE", "KYC_SUBMITTED", "LIMITED", "ONBOARDING",
    "PAPER_ONLY", "REAPPROVAL_PENDING", "REJECTED", "RESUBMITTED", "SIGNED_UP", "SUBMISSION_FAILED", "SUBMITTED",
})
_ORDER_TYPES = frozenset({"market", "limit", "stop", "stop_limit", "trailing_stop"})
# Returned activity types (REFERENCE.md C2, alpaca-py 0.44's ActivityType, changelog 2026-11-06 "activity types")
ACTIVITY_TYPES = frozenset({
    "FILL", "ACATC", "ACATS", "ALLOC", "CFEE", "CIL", "CORR", "CSD", "CSR", "CSW", "DIV", "DIVCGL", "DIVCGS",
    "DIVFEE", "DIVFT", "DIVNRA", "DIVROC", "DIVTW", "DIVTXEX", "DIVWH", "DTCS", "DVF", "ECEXP", "EXTRD", "FEE",
    "FIMAT", "FXCNV", "FXTRD", "INT", "INTNRA", "INTPNL", "INTTW", "INVPNL", "JNL", "JNLC", "JNLS", "MA", "MEM",
    "MISC", "NC", "OCT", "OPASN", "OPCSH", "OPEXC", "OPEXP", "OPTRD", "PTC", "PTR", "REORG", "ROC", "SC", "SEG",
    "SPIN", "SPLIT", "SSO", "SSP", "SUB", "SWP", "TRANS", "VOF", "WH",
})
# What account_events asks for (activity_types=...): the non-trade types pairbot books, each a long-documented
# filter value, plus the filter-only groups TRANS (CSD and CSW) and MISC ("all types except those in TRANS, DIV,
# or FILL"), which bring the rest, the split codes refused as filters (SSO, SSP) and types not known yet included.
# One query of all of them pages through no FILL; the types in use now are in REFERENCE.md C2.
NON_TRADE_FILTER_TYPES = frozenset({
    "SPLIT", "SPIN", "JNLS", "DIV", "DIVNRA", "DIVROC", "DIVTW", "DIVFT", "CIL", "FEE", "INT", "INTNRA", "JNLC",
    "JNL", "CSD", "CSW", "ACATC", "ACATS", "TRANS", "MISC",
})
ACTIVITY_SUB_TYPES = frozenset({"RSPLIT", "CDIV", "SDIV", "ROC", "REG", "TAF", "ICF", "EPI"})  # non-exhaustive

KNOWN_VALUES: Mapping[tuple[str, str], frozenset[str]] = {
    ("account", "status"): _ACCOUNT_STATUSES,
    ("account", "crypto_status"): _ACCOUNT_STATUSES,
    ("asset", "class"): _ASSET_CLASSES,
    ("asset", "exchange"): _EXCHANGES,
    ("asset", "status"): frozenset({"active", "inactive"}),
    ("asset", "borrow_status"): frozenset({"ETB", "HTB"}),
    ("position", "side"): frozenset({"long", "short"}),
    ("position", "asset_class"): _ASSET_CLASSES,
    ("position", "exchange"): _EXCHANGES,
    ("order", "status"): _ORDER_STATUSES,
    ("order", "side"): frozenset({"buy", "sell"}),
    ("order", "type"): _ORDER_TYPES,
    ("order", "order_type"): _ORDER_TYPES,
    ("order", "time_in_force"): frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"}),
    ("order", "order_class"): frozenset({"simple", "mleg", "bracket", "oco", "oto"}),
    ("order", "position_intent"): frozenset({"buy_to_open", "buy_to_close", "sell_to_open", "sell_to_close"}),
    ("order", "asset_class"): _ASSET_CLASSES,
    ("activity", "activity_type"): ACTIVITY_TYPES,
    ("activity", "entry_sub_type"): ACTIVITY_SUB_TYPES,
    ("activity", "activity_sub_type"): ACTIVITY_SUB_TYPES,
    ("activity", "status"): frozenset({"executed", "correct", "canceled"}),
    ("activity", "type"): frozenset({"fill", "partial_fill"}),
    ("activity", "side"): frozenset({"buy", "sell", "sell_short"}),
}


@dataclass(frozen=True, slots=True)
class Tolerated:
    """One thing the mapping let through: kind is unknown_field, unknown_value or note."""

    kind: str
    item: str


@dataclass(frozen=True, slots=True)
class Observation:
    """What one JSON object of one kind shows about the schema."""

    markers: frozenset[str]  # asset.borrow_status, asset.easy_to_borrow, account, account.pdt
    unknown_fields: frozenset[str]
    unknown_values: frozenset[str]
    missing_deprecated: frozenset[str]
    notes: frozenset[str]


def observe(kind: str, raw: Mapping[str, Any]) -> Observation:
    """Pure: compare one object with what pairbot knows of its kind."""
    known = KNOWN_FIELDS.get(kind, frozenset())
    values = frozenset(
        f"{k}.{field}={raw[field]}" for (k, field), allowed in KNOWN_VALUES.items()
        if k == kind and raw.get(field) not in (None, "") and str(raw[field]) not in allowed
    )
    missing = frozenset(f"{kind}.{f}" for f in DEPRECATED_FIELDS.get(kind, ()) if f not in raw)
    markers, notes = _markers(kind, raw)
    return Observation(markers, frozenset(f"{kind}.{f}" for f in raw if f not in known), values, missing, notes)


def _markers(kind: str, raw: Mapping[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
    if kind == "account":
        pdt = any(f in raw for f in PDT_FIELDS)
        return frozenset({"account", "account.pdt"} if pdt else {"account"}), frozenset()
    if kind != "asset":
        return frozenset(), frozenset()
    found = {f"asset.{f}" for f in ("borrow_status", "easy_to_borrow") if raw.get(f) is not None}
    if found:
        return frozenset(found | {"asset"}), frozenset()
    note = f"asset {raw.get('symbol', '?')} has neither borrow_status nor easy_to_borrow: taken as hard to borrow"
    return frozenset({"asset"}), frozenset({note})


_ASSET_PARTS = {"2026": "borrow_status ETB/HTB; no easy_to_borrow", "legacy": "easy_to_borrow",
                "mixed": "borrow_status and easy_to_borrow", "none": "assets without borrow_status or easy_to_borrow",
                None: "no asset read yet"}
_ACCOUNT_PARTS = {"2026": "no PDT fields", "legacy": "PDT fields", None: "no account read yet"}


def _asset_generation(markers: frozenset[str]) -> str | None:
    if "asset" not in markers:
        return None
    borrow, etb = "asset.borrow_status" in markers, "asset.easy_to_borrow" in markers
    return "mixed" if borrow and etb else "2026" if borrow else "legacy" if etb else "none"


def _account_generation(markers: frozenset[str]) -> str | None:
    if "account" not in markers:
        return None
    return "legacy" if "account.pdt" in markers else "2026"


@dataclass(frozen=True, slots=True)
class SchemaSeen:
    """The broker schema as the adapter saw it so far; ``summary()`` is the line `pairbot doctor` prints."""

    generation: str  # "2026", "legacy", "mixed" or "unseen"
    description: str  # e.g. "2026 schema (borrow_status ETB/HTB; no easy_to_borrow, no PDT fields)"
    unknown_fields: tuple[str, ...] = ()  # kind.field
    unknown_values: tuple[str, ...] = ()  # kind.field=value
    missing_deprecated: tuple[str, ...] = ()  # kind.field
    notes: tuple[str, ...] = ()

    @property
    def tolerated_anything(self) -> bool:
        return bool(self.unknown_fields or self.unknown_values or self.notes)

    def summary(self) -> str:
        parts = [_counted(self.unknown_fields, "unknown field"), _counted(self.unknown_values, "unknown value")]
        said = ", ".join(p for p in parts if p)
        line = f"{self.description}; " + (f"tolerated {said}" if said else "no unknown fields or values")
        return line + "".join(f"; {note}" for note in self.notes)

    @classmethod
    def of(cls, obs: Observation) -> SchemaSeen:
        asset, account = _asset_generation(obs.markers), _account_generation(obs.markers)
        seen = {g for g in (asset, account) if g is not None}
        generation = "unseen" if not seen else seen.pop() if len(seen) == 1 and "none" not in seen else "mixed"
        label = {"2026": "2026 schema", "legacy": "legacy schema", "mixed": "mixed schema"}.get(generation, "schema")
        return cls(generation=generation, description=f"{label} ({_ASSET_PARTS[asset]}, {_ACCOUNT_PARTS[account]})",
                   unknown_fields=tuple(sorted(obs.unknown_fields)), unknown_values=tuple(sorted(obs.unknown_values)),
                   missing_deprecated=tuple(sorted(obs.missing_deprecated)), notes=tuple(sorted(obs.notes)))


def _counted(items: tuple[str, ...], noun: str, shown: int = 3) -> str:
    if not items:
        return ""
    names = ", ".join(items[:shown]) + (", ..." if len(items) > shown else "")
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''} ({names})"


class SchemaRecord:
    """The running union of observations; ``see`` returns what is new, so the caller logs each item once."""

    def __init__(self) -> None:
        self._seen = Observation(frozenset(), frozenset(), frozenset(), frozenset(), frozenset())

    def see(self, kind: str, raw: Mapping[str, Any]) -> list[Tolerated]:
        obs, old = observe(kind, raw), self._seen
        self._seen = Observation(old.markers | obs.markers, old.unknown_fields | obs.unknown_fields,
                                 old.unknown_values | obs.unknown_values,
                                 old.missing_deprecated | obs.missing_deprecated, old.notes | obs.notes)
        return [Tolerated("unknown_field", i) for i in sorted(obs.unknown_fields - old.unknown_fields)] + [
            Tolerated("unknown_value", i) for i in sorted(obs.unknown_values - old.unknown_values)] + [
            Tolerated("note", i) for i in sorted(obs.notes - old.notes)]

    def seen(self) -> SchemaSeen:
        return SchemaSeen.of(self._seen)
