"""Reading Alpaca's JSON tolerantly: the shapes, fields and numbers every mapping needs.

A reply that lacks what pairbot truly needs is BrokerUnavailable with one line, never a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.errors import BrokerUnavailable

Json = Mapping[str, Any]


def unexpected(what: str) -> BrokerUnavailable:
    return BrokerUnavailable(f"unexpected reply from the broker: {what}")


def shape(raw: object) -> str:
    if raw is None:
        return "empty"
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, Mapping):
        return "an object"
    return "text" if isinstance(raw, str) else f"a {type(raw).__name__}"


def as_object(raw: object, kind: str) -> Json:
    if not isinstance(raw, Mapping):
        raise unexpected(f"{kind} is {shape(raw)}, not an object")
    return raw


def as_objects(raw: object, kind: str) -> list[Json]:
    """A JSON list of objects of one kind (e.g. the positions list: kind "position")."""
    if not isinstance(raw, list):
        raise unexpected(f"the {kind} list is {shape(raw)}, not a list")
    return [as_object(item, kind) for item in raw]


def required(obj: Json, field: str, kind: str) -> Any:
    value = obj.get(field)
    if value is None or value == "":
        raise unexpected(f"{kind} without {field}")
    return value


def dec(value: object, default: str = "0") -> Decimal:
    """Alpaca sends decimals as strings (data prices as numbers); never go through float arithmetic."""
    if value is None or value == "":
        return Decimal(default)
    if isinstance(value, bool):
        raise InvalidOperation(f"{value!r} is not a number")
    return Decimal(str(value))


def number(obj: Json, field: str, kind: str, *, need: bool = False, default: str = "0") -> Decimal:
    value = required(obj, field, kind) if need else obj.get(field)
    try:
        out = dec(value, default)
    except InvalidOperation:
        raise unexpected(f"{kind}.{field} is not a number: {value!r}") from None
    if not out.is_finite():
        raise unexpected(f"{kind}.{field} is not a finite number: {value!r}")
    return out


def utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def moment(obj: Json, field: str, kind: str) -> datetime:
    value = required(obj, field, kind)
    try:
        return utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        raise unexpected(f"{kind}.{field} is not a timestamp: {value!r}") from None


def flag(obj: Json, field: str) -> bool:
    """A boolean flag; anything but JSON true (missing included) is false."""
    return obj.get(field) is True
