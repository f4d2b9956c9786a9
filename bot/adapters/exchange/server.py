"""HTTP: a keep-alive ThreadingHTTPServer, key checks, routing, fault injection, JSON replies."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from bot.adapters.exchange import routes_activities, routes_data, routes_trading
from bot.adapters.exchange.faults import ORDER_KINDS, Fault, FaultPlan
from bot.adapters.exchange.matching import Engine
from bot.adapters.exchange.models import ApiError
from bot.adapters.exchange.routes_trading import Ctx, Handler

log = logging.getLogger("bot.adapters.exchange")

_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(pattern + r"\Z"), handler)
    for method, pattern, handler in routes_trading.ROUTES + routes_activities.ROUTES + routes_data.ROUTES
]


class Headers(Protocol):
    def get(self, name: str, default: None = None) -> str | None: ...


class ReceivedRequest(NamedTuple):
    method: str
    path: str
    query: str  # the raw query string

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))


@dataclass
class RequestLog:
    """Every request the server received, in arrival order (thread-safe)."""

    _items: list[ReceivedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def append(self, item: ReceivedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def snapshot(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._items)

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return sum(1 for r in self.snapshot()
                   if (method is None or r.method == method) and (path is None or r.path == path))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __iter__(self) -> Iterator[ReceivedRequest]:
        return iter(self.snapshot())

    def __getitem__(self, index: int) -> ReceivedRequest:
        with self._lock:
            return self._items[index]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, body, headers=headers)


class Dispatcher:
    """Turns one HTTP request into one Reply (or None: drop the connection)."""

    def __init__(self, *, engine: Engine, lock: threading.RLock, faults: FaultPlan, requests: RequestLog,
                 keys: tuple[str, str], label: str, schema: str = "today") -> None:
        self.engine, self.lock, self.faults, self.requests = engine, lock, faults, requests
        self.keys, self.label, self.schema = keys, label, schema

    def dispatch(self, method: str, raw_path: str, headers: Headers, body: bytes) -> Reply | None:
        split = urlsplit(raw_path)
        path = unquote(split.path)
        self.requests.append(ReceivedRequest(method, path, split.query))
        fired = self.faults.take(method, path)
        for fault in fired:
            if fault.kind == "delay":
                time.sleep(fault.delay_seconds)
        for fault in fired:
            if fault.kind == "drop_before":
                return None
            if fault.kind in ("reject", "rate_limit") or (fault.kind == "status" and not fault.after_apply):
                return fault_reply(fault)
        reply = self.handle(method, path, split.query, headers, body, [f for f in fired if f.kind in ORDER_KINDS])
        for fault in fired:
            if fault.kind == "drop_after_apply":
                return None
            if fault.kind == "status" and fault.after_apply:
                return fault_reply(fault)
        return reply

    def handle(self, method: str, path: str, query: str, headers: Headers, body: bytes,
               order_faults: list[Fault]) -> Reply:
        key, secret = headers.get("APCA-API-KEY-ID") or "", headers.get("APCA-API-SECRET-KEY") or ""
        if not (hmac.compare_digest(key, self.keys[0]) and hmac.compare_digest(secret, self.keys[1])):
            return json_reply(401, {"code": 40110000, "message": "request is not authorized"})
        found = _route(method, path)
        if found is None:
            return json_reply(404, {"code": 40410000, "message": "endpoint not found"})
        handler, match = found
        try:
            payload = json.loads(body, parse_float=Decimal) if body.strip() else {}
        except ValueError:
            return json_reply(400, {"code": 40010000, "message": "request body format is invalid"})
        params = dict(parse_qsl(query, keep_blank_values=True))
        try:
            with self.lock, self.engine.store.transaction():
                at = self.engine.clock.now()
                self.engine.settle(at)
                ctx = Ctx(self.engine, at, params, payload, order_faults, self.label, self.schema)
                try:
                    status, out = handler(ctx, match)
                except ApiError as err:
                    status, out = err.status, err.body()
        except Exception as err:  # a bug here must still answer like a server, not hang the client
            log.exception("local exchange failed on %s %s", method, path)
            return json_reply(500, {"code": 50010000, "message": f"internal error: {type(err).__name__}"})
        return json_reply(status, out)


def _route(method: str, path: str) -> tuple[Handler, re.Match[str]] | None:
    for route_method, pattern, handler in _ROUTES:
        match = pattern.match(path)
        if match and route_method == method:
            return handler, match
    return None


def fault_reply(fault: Fault) -> Reply:
    if fault.kind == "rate_limit":
        reset = str(int(time.time()) + fault.retry_after)
        headers = (("Retry-After", str(fault.retry_after)), ("X-Ratelimit-Limit", "200"),
                   ("X-Ratelimit-Remaining", "0"), ("X-Ratelimit-Reset", reset))
        return json_reply(429, {"code": 42910000, "message": "rate limit exceeded"}, headers)
    status = fault.status or (403 if fault.kind == "reject" else 500)
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    if fault.body is not None:
        return Reply(status, fault.body.encode(), "text/html" if fault.html else "application/json")
    if fault.html:
        page = f"<html><head><title>{status} {phrase}</title></head><body><h1>{status} {phrase}</h1></body></html>"
        return Reply(status, page.encode(), "text/html")
    code = fault.code or (40310000 if fault.kind == "reject" else status * 100000)
    return json_reply(status, {"code": code, "message": fault.message or phrase.lower()})


class ExchangeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], dispatcher: Dispatcher, label: str) -> None:
        super().__init__(address, _Handler)
        self.dispatcher, self.label = dispatcher, label
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def close_connections(self) -> None:
        with self.connections_lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "pairbot-local-exchange"
    server: ExchangeHTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Quiet: the exchange logs nothing per request."""

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.dispatcher.dispatch(method, self.path, self.headers, body)
        if reply is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("X-Pairbot-Prices", self.server.label)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")
