"""Scripted faults, per route (method + path pattern) and per call number of that route."""

from __future__ import annotations

import fnmatch
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

# Answered instead of the request (nothing applied): status, reject, rate_limit, drop_before.
# Around the request: delay (sleep, then apply and answer), drop_after_apply, and status with
# after_apply=True (apply, then answer with the fault's status, e.g. a 504 from a "gateway").
# Order-level (POST /v2/orders or DELETE /v2/orders/*): stuck, partial_then_expire,
# late_fill_after_cancel, reject_later.
FAULT_KINDS = frozenset({
    "status", "reject", "rate_limit", "delay", "drop_before", "drop_after_apply",
    "stuck", "partial_then_expire", "late_fill_after_cancel", "reject_later",
})
ORDER_KINDS = frozenset({"stuck", "partial_then_expire", "late_fill_after_cancel", "reject_later"})


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted misbehaviour. ``path`` is a glob (``/v2/orders/*``); ``on_calls`` counts from 1."""

    kind: str
    method: str = "*"
    path: str = "*"
    on_calls: frozenset[int] | None = None  # None = every matching call
    status: int | None = None  # default 500 for "status", 403 for "reject"
    html: bool = False  # an HTML error page instead of JSON (alpaca-py's e.code then raises)
    body: str | None = None  # a raw body to send verbatim
    code: int | None = None  # Alpaca error code for status/reject
    message: str | None = None
    after_apply: bool = False  # status: apply the request first, then answer with the status
    delay_seconds: float = 0.0
    retry_after: int = 1  # 429: Retry-After seconds (X-Ratelimit-Reset = now + this)
    polls: int = 3  # stuck: number of later requests without a fill

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {sorted(FAULT_KINDS)}")
        if self.on_calls is not None and not isinstance(self.on_calls, frozenset):
            object.__setattr__(self, "on_calls", frozenset(self.on_calls))

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method.upper() == method) and fnmatch.fnmatchcase(path, self.path)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Fault:
        data = dict(raw)
        if "on_calls" in data and data["on_calls"] is not None:
            calls = data["on_calls"]
            data["on_calls"] = frozenset([calls] if isinstance(calls, int) else calls)
        try:
            return cls(**data)
        except TypeError as err:
            raise ValueError(f"bad fault {raw}: {err}") from err


@dataclass
class _Armed:
    fault: Fault
    calls: int = 0


@dataclass
class FaultPlan:
    """The faults in force; thread-safe; each fault counts the calls that matched it."""

    _armed: list[_Armed] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self._armed.extend(_Armed(f) for f in faults)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def load(self, path: Path) -> None:
        """A JSON or YAML list of faults (or ``{"faults": [...]}``); a bad file is one ConfigError naming it."""
        import yaml

        try:
            text = Path(path).read_text(encoding="utf-8")
            raw = yaml.safe_load(text) if Path(path).suffix.lower() in (".yaml", ".yml") else json.loads(text)
        except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as err:
            why = err.strerror if isinstance(err, OSError) else str(err).splitlines()[0]
            raise ConfigError(f"faults file {path}: cannot read it: {why}") from None
        items: object = raw.get("faults", []) if isinstance(raw, dict) else raw
        if not isinstance(items, list):
            raise ConfigError(f"faults file {path}: expected a list of faults, got {type(items).__name__}")
        faults = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ConfigError(f"faults file {path}: fault #{i + 1} must be a mapping such as "
                                  f'{{"kind": "status", "path": "/v2/orders"}}, got {item!r}')
            try:
                faults.append(Fault.from_dict(item))
            except ValueError as err:
                raise ConfigError(f"faults file {path}: fault #{i + 1}: {err}") from None
        self.add(*faults)

    def __len__(self) -> int:
        with self._lock:
            return len(self._armed)

    def take(self, method: str, path: str) -> list[Fault]:
        """Count this call against every matching fault; return those that fire on it."""
        fired: list[Fault] = []
        with self._lock:
            for armed in self._armed:
                if armed.fault.matches(method, path):
                    armed.calls += 1
                    if armed.fault.on_calls is None or armed.calls in armed.fault.on_calls:
                        fired.append(armed.fault)
        return fired
