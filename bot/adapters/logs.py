"""structlog set-up: JSON lines to logs/, secrets masked by a processor on every event."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog

from bot.errors import ConfigError

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


LOG_NAME = "pairbot.jsonl"


def open_private(path: Path) -> TextIO:
    """The log file for appending, made (0600, its directory 0700) if absent."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    if os.path.isfile(path):
        os.chmod(path, 0o600)
    return os.fdopen(fd, "a", encoding="utf-8", buffering=1)


class LogFile:
    """The log stream. The first line must be written (else nothing is sent); later failures are kept, not
    raised, so a full disk can never stop a run between an order and its record (the ledger is the journal)."""

    def __init__(self, stream: TextIO, path: Path) -> None:
        self.stream, self.path = stream, path
        self.failure: OSError | None = None

    def write(self, text: str) -> None:
        if self.failure is None:
            try:
                self.stream.write(text)
            except OSError as err:
                self.failure = err

    def flush(self) -> None:
        if self.failure is None:
            try:
                self.stream.flush()
            except OSError as err:
                self.failure = err


_current: list[LogFile] = []


def log_failure() -> str | None:
    """One line about a log write that failed during this process, if one did."""
    for sink in _current:
        if sink.failure is not None:
            why = sink.failure.strerror or sink.failure
            return f"could not write the log {sink.path} ({why}); the ledger has the run"
    return None


def configure_logging(log_dir: Path, *, redactor: Redactor, filename: str = LOG_NAME) -> Path:
    """JSON lines to log_dir/filename (0600); nothing to the terminal (the CLI prints a summary)."""
    path = log_dir / filename
    try:
        stream = open_private(path)
        stream.write("")
        stream.flush()
    except OSError as err:
        raise ConfigError(f"log {path}: cannot write it ({err.strerror}; check paths.logs); nothing was sent") from None
    sink = LogFile(stream, path)
    _current[:] = [sink]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redactor,
            structlog.processors.JSONRenderer(default=str),
        ],
        logger_factory=structlog.WriteLoggerFactory(file=sink),  # type: ignore[arg-type]  # a TextIO's write/flush
        cache_logger_on_first_use=False,
    )
    structlog.get_logger("pairbot").info("log_opened", pid=os.getpid())
    if sink.failure is not None:
        _current.clear()
        raise ConfigError(f"log {path}: cannot write it ({sink.failure.strerror}; check paths.logs and the disk); "
                          "nothing was sent")
    return path


def configure_silent() -> None:
    """For commands that must not write logs (and for library use), and every command until it opens its log:
    drop every event. structlog's own default prints them to stdout, tracebacks and all."""
    _current.clear()
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=False,
    )
