"""Run notifications: a JSON summary to a webhook after a run that traded or exited non-zero."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from tests.ops.conftest import Pairbot

TOKEN = "hook-token-must-not-be-logged"


@dataclass
class Receiver:
    url: str
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook on 127.0.0.1:0 that records each JSON body it is sent."""
    box = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            box.received.append(json.loads(body))
            self.send_response(box.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_port}/hooks/{TOKEN}?key={TOKEN}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box
    server.shutdown()
    server.server_close()


def test_a_run_that_trades_posts_its_summary_and_logs_only_the_webhook_host(pairbot: Pairbot,
                                                                            receiver: Receiver) -> None:
    pairbot.write_config(notifications={"webhook_url": receiver.url})

    done = pairbot.run("rebalance")

    assert done.returncode == 0, done.stderr
    [note] = receiver.received
    assert note["decision"] == "calendar" and note["outcome"] == "done" and note["exit_code"] == 0
    assert note["run_id"] and note["why"]
    assert {o["symbol"] for o in note["orders"]} == {"IWM", "QQQ"}
    assert {f["symbol"] for f in note["fills"]} == {"IWM", "QQQ"}
    log = pairbot.log_text()
    assert '"notification_sent"' in log and "127.0.0.1" in log
    assert TOKEN not in log and TOKEN not in done.stdout + done.stderr


def test_a_quiet_run_sends_nothing_and_a_refused_run_sends_its_exit_code(pairbot: Pairbot,
                                                                        receiver: Receiver) -> None:
    pairbot.write_config(notifications={"webhook_url": receiver.url})
    assert pairbot.run("rebalance").returncode == 0
    assert pairbot.run("rebalance").returncode == 0
    (pairbot.workdir / ".state" / "KILL").touch()

    refused = pairbot.run("rebalance")

    assert refused.returncode == 3
    assert [n["exit_code"] for n in receiver.received] == [0, 3]
    assert "kill switch" in receiver.received[1]["error"]


def test_a_failing_webhook_never_fails_the_run(pairbot: Pairbot, receiver: Receiver) -> None:
    receiver.status = 500
    pairbot.write_config(notifications={"webhook_url": receiver.url, "timeout_seconds": 2})

    done = pairbot.run("rebalance")

    assert done.returncode == 0, done.stderr
    assert len(receiver.received) == 1
    log = pairbot.log_text()
    assert '"notification_failed"' in log and '"status": 500' in log and TOKEN not in log


def fills_told(summary: str) -> set[str]:
    """The client order ids in the `fills:` section of a run's printed summary."""
    section = summary.partition("\nfills:\n")[2].partition("\nbook after:")[0]
    return {line.rpartition("[")[2].rstrip("]") for line in section.splitlines()}


def test_back_on_a_strategy_traded_earlier_today_a_run_tells_only_its_own_fills(pairbot: Pairbot,
                                                                                receiver: Receiver) -> None:
    """The same drift decision again (same day, same config): a new attempt; the earlier one's fills were told."""
    done = []
    for strategy in ("pair", "replica", "pair", "replica"):
        pairbot.write_config(strategy=strategy, notifications={"webhook_url": receiver.url})
        done.append(pairbot.run("rebalance"))
        assert done[-1].returncode == 0, done[-1].stdout + done[-1].stderr

    last = receiver.received[-1]
    sent = {o["client_order_id"] for o in last["orders"]}
    assert sent and {c.rpartition("-")[2] for c in sent} == {"2"}, sent
    assert {f["client_order_id"] for f in last["fills"]} == sent
    assert fills_told(done[-1].stdout) == sent
    told = [(f["client_order_id"], f["filled_at"], f["qty"]) for n in receiver.received for f in n["fills"]]
    assert len(told) == len(set(told))
