"""structlog set-up: JSON lines to logs/, secrets masked by a processor on every event."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog

_SECRET_FIELDS = re.compile(r"(secret|password|token|apca-api-secret-key)", re.IGNORECASE)
_KEY_FIELDS = re.compile(r"(api_?key|key_?id|apca-api-key-id)", re.IGNORECASE)
REDACTED = "<redacted>"


def mask_key(key: str) -> str:
    """First and last four characters, the rest elided: 'PKAB…WXYZ'."""
    return f"{key[:4]}…{key[-4:]}" if len(key) > 10 else "****"


class Redactor:
    """Masks known key ids and drops secrets wherever they appear in an event."""

    def __init__(self, secrets: Iterable[str] = (), key_ids: Iterable[str] = ()) -> None:
        self._secrets = [s for s in secrets if s]
        self._key_ids = [k for k in key_ids if k]

    def add(self, *, secret: str, key_id: str) -> None:
        if secret:
            self._secrets.append(secret)
        if key_id:
            self._key_ids.append(key_id)

    def scrub(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, REDACTED)
        for k in self._key_ids:
            text = text.replace(k, mask_key(k))
        return text

    def _value(self, name: str, value: Any) -> Any:
        if _SECRET_FIELDS.search(name):
            return REDACTED
        if isinstance(value, str):
            return mask_key(value) if _KEY_FIELDS.search(name) else self.scrub(value)
        if isinstance(value, dict):
            return {k: self._value(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._value(name, v) for v in value]
        return value

    def __call__(self, _logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        return {k: self._value(k, v) for k, v in event.items()}


def _open_private(path: Path) -> TextIO:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.chmod(path, 0o600)
    return os.fdopen(fd, "a", encoding="utf-8", buffering=1)


def configure_logging(log_dir: Path, *, redactor: Redactor, filename: str = "pairbot.jsonl") -> Path:
    """JSON lines to log_dir/filename (0600); nothing to the terminal (the CLI prints a summary)."""
    path = log_dir / filename
    stream = _open_private(path)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redactor,
            structlog.processors.JSONRenderer(default=str),
        ],
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    return path


def configure_silent() -> None:
    """For commands that must not write logs (and for library use): drop every event."""
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=False,
    )
