"""Run notifications: a JSON summary POSTed to an optional webhook; a failing webhook never fails the run."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import structlog

from bot.config import Config
from bot.errors import BotError
from bot.live.context import RunReport

log = structlog.get_logger("pairbot.notify")


def webhook_host(url: str) -> str:
    """Only the host (and port) of the URL: the path or query may hold a token, so never log them."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


def run_summary(run_id: str, report: RunReport | None, error: BotError | None) -> dict[str, Any]:
    exit_code = error.exit_code if error is not None else (report.exit_code if report is not None else 0)
    out: dict[str, Any] = {"run_id": run_id, "exit_code": exit_code,
                           "error": None if error is None else str(error)}
    if report is None:
        return out | {"decision": None, "why": None, "outcome": type(error).__name__ if error else None,
                      "orders": [], "fills": []}
    return out | {
        "decision": report.decision, "why": report.why, "outcome": report.outcome, "period": report.period,
        "run_key": report.run_key,
        "orders": [{"client_order_id": o.intent.client_order_id, "symbol": o.intent.symbol,
                    "side": o.intent.side.value, "qty": str(o.intent.qty),
                    "status": o.state.status if o.state else "refused",
                    "filled_qty": str(o.state.filled_qty) if o.state else "0", "error": o.error}
                   for o in report.outcomes],
        "fills": [{"client_order_id": f.client_order_id, "symbol": f.symbol, "side": f.side.value, "qty": str(f.qty),
                   "price": str(f.price), "filled_at": f.filled_at.isoformat()} for f in report.fills],
    }


def needs_notice(summary: dict[str, Any]) -> bool:
    """Runs that traded or exited non-zero; a quiet 'within band' day sends nothing."""
    return bool(summary["orders"] or summary["fills"] or summary["exit_code"] != 0)


def notify(config: Config, summary: dict[str, Any]) -> None:
    """POST the summary to notifications.webhook_url, if set. Never raises."""
    url = config.notifications.webhook_url
    if not url:
        return
    host = webhook_host(url)
    body = json.dumps({"source": "pairbot", "mode": config.mode, "strategy": config.strategy, **summary},
                      default=str).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "pairbot"})
    try:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("the webhook URL must be http(s)")
        with urllib.request.urlopen(request, timeout=config.notifications.timeout_seconds) as response:
            status = response.status
    except urllib.error.HTTPError as err:
        log.warning("notification_failed", host=host, status=err.code)
        return
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        log.warning("notification_failed", host=host, error=type(err).__name__, reason=str(reason)[:120])
        return
    log.info("notification_sent", host=host, status=status, run_id=summary.get("run_id"))


def notify_run(config: Config, run_id: str, report: RunReport | None, error: BotError | None) -> None:
    summary = run_summary(run_id, report, error)
    if needs_notice(summary):
        notify(config, summary)
