"""The standalone entry point: loopback only unless told otherwise, and it serves alpaca-py."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from alpaca.trading.client import TradingClient

from bot.exchange.serve import serve_main


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_refuses_a_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve_main(["--host", "0.0.0.0"]) == 2
    assert "not a loopback address" in capsys.readouterr().err


def test_serve_runs_a_shared_state_exchange_until_stopped(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALPACA_API_KEY", raising=False)
    monkeypatch.delenv("ALPACA_SECRET_KEY", raising=False)
    port, stop = free_port(), threading.Event()
    runner = threading.Thread(target=serve_main, args=(["--port", str(port), "--state", str(tmp_path / "x.db"),
                                                        "--cash", "5000", "--reset"],), kwargs={"stop": stop})
    runner.start()
    try:
        client = TradingClient("PKLOCAL", "local-secret", paper=True, url_override=f"http://127.0.0.1:{port}")
        for _ in range(100):
            try:
                account = client.get_account()
                break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.05)
        assert account.cash == "5000"
    finally:
        stop.set()
        runner.join(timeout=5)
    assert "SYNTHETIC" in capsys.readouterr().err
