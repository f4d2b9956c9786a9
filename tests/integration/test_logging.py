"""Secrets never reach the log: key ids are masked and secrets removed, whatever field carries them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog

from bot.adapters.logs import Redactor, configure_logging, mask_key

KEY, SECRET = "PK" + "CANARY1234567890AB", "canary-secret-0123456789"  # built: no key-shaped literal in git


def test_secrets_and_key_ids_are_scrubbed_from_every_field(tmp_path: Path) -> None:
    redactor = Redactor()
    redactor.add(secret=SECRET, key_id=KEY)
    path = configure_logging(tmp_path, redactor=redactor)

    structlog.get_logger().info("request_failed", error=f"403 for key {KEY} secret {SECRET}",
                                headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET},
                                api_key=KEY, nested=[{"text": SECRET}])

    text = path.read_text()
    assert KEY not in text and SECRET not in text
    event = json.loads(text.splitlines()[-1])
    assert event["api_key"] == mask_key(KEY) == "PKCA…90AB"
    assert event["headers"]["APCA-API-SECRET-KEY"] == "<redacted>"
    assert path.stat().st_mode & 0o777 == 0o600


def test_an_internal_error_before_the_log_is_open_is_one_line_on_stderr_and_nothing_on_stdout(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import main
    from bot.commands import backtest

    def bug(_args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(backtest, "run", bug)
    monkeypatch.delenv("PAIRBOT_DEBUG", raising=False)
    structlog.reset_defaults()  # as in a fresh process: structlog's own default prints every event to stdout

    code = main(["backtest", "--config", str(tmp_path / "absent.yaml")])

    captured = capsys.readouterr()
    assert code == 1
    assert captured.err == "pairbot: internal error: RuntimeError: a bug (set PAIRBOT_DEBUG=1 for a traceback)\n"
    assert captured.out == ""


def test_version_prints_the_installed_version_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    from bot.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])

    assert done.value.code == 0
    assert capsys.readouterr().out == f"pairbot {version('pairbot')}\n"
