"""Secrets never reach the log: key ids are masked and secrets removed, whatever field carries them."""

from __future__ import annotations

import json
from pathlib import Path

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
