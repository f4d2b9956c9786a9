"""`pairbot doctor`: one PASS/FAIL line per check, a coded exit, never a traceback."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bot.adapters.exchange import ExchangeSettings, LocalExchange
from tests.e2e.conftest import trading_hours
from tests.ops.conftest import Pairbot

KEY, SECRET = "PK" + "DOCTOR0000000000AB", "doctor-secret-not-real"  # built: no key-shaped literal in git
CHECKS = ("config", "keys", "broker", "clock", "account", "short assets", "book", "next run", "ledger", "reconcile",
          "schema", "kill switch")


def lines(out: str) -> dict[str, str]:
    return {line[6:20].strip(): line[:4] for line in out.splitlines() if line[:4] in ("PASS", "FAIL")}


@pytest.fixture
def exchange() -> Iterator[LocalExchange]:
    ex = LocalExchange(ExchangeSettings(state_path=None, api_key=KEY, secret_key=SECRET, now=trading_hours()))
    ex.start()
    yield ex
    ex.stop()


def test_doctor_passes_every_check_on_the_embedded_default_after_a_rebalance(traded: Pairbot) -> None:
    done = traded.run("doctor")

    assert done.returncode == 0, done.stdout + done.stderr
    assert lines(done.stdout) == {name: "PASS" for name in CHECKS}
    assert "local exchange keys" in done.stdout
    assert "QQQ shortable and easy to borrow" in done.stdout


def test_doctor_in_paper_mode_shows_the_key_masked_and_never_the_secret(pairbot: Pairbot,
                                                                       exchange: LocalExchange) -> None:
    pairbot.write_config(mode="paper")
    env = {"ALPACA_API_KEY": KEY, "ALPACA_SECRET_KEY": SECRET, "ALPACA_BASE_URL": exchange.base_url,
           "ALPACA_DATA_URL": exchange.base_url}

    done = pairbot.run("doctor", env=env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "PKDO…00AB" in done.stdout
    assert KEY not in done.stdout and SECRET not in done.stdout + done.stderr


def test_doctor_exits_2_on_a_bad_config_and_on_missing_keys(pairbot: Pairbot) -> None:
    pairbot.config.write_text("limits: {max_gross: -1}\n")
    bad = pairbot.run("doctor")
    pairbot.write_config(mode="paper")
    keyless = pairbot.run("doctor")

    assert bad.returncode == 2 and lines(bad.stdout) == {"config": "FAIL"}
    assert keyless.returncode == 2 and lines(keyless.stdout)["keys"] == "FAIL"
    assert "Traceback" not in bad.stderr + keyless.stderr


def test_doctor_exits_4_when_the_broker_is_unreachable(pairbot: Pairbot) -> None:
    pairbot.write_config(mode="paper", execution={"read_attempts": 1, "connect_timeout_seconds": 1})
    env = {"ALPACA_API_KEY": KEY, "ALPACA_SECRET_KEY": SECRET, "ALPACA_BASE_URL": "http://127.0.0.1:9",
           "ALPACA_DATA_URL": "http://127.0.0.1:9"}

    done = pairbot.run("doctor", env=env)

    assert done.returncode == 4, done.stdout + done.stderr
    assert lines(done.stdout)["broker"] == "FAIL" and "Traceback" not in done.stderr


def test_doctor_exits_6_when_the_ledger_holds_positions_the_broker_does_not(pairbot: Pairbot) -> None:
    assert pairbot.run("rebalance").returncode == 0
    os.remove(pairbot.workdir / ".state" / "exchange.sqlite")  # a fresh, flat account behind the same ledger

    done = pairbot.run("doctor")

    assert done.returncode == 6, done.stdout + done.stderr
    assert lines(done.stdout)["reconcile"] == "FAIL" and "disagree" in done.stdout


def test_doctor_exits_6_on_a_corrupt_ledger(pairbot: Pairbot) -> None:
    ledger = pairbot.workdir / ".state" / "ledger-local.sqlite"
    ledger.parent.mkdir(parents=True)
    ledger.write_bytes(b"this is not a database" * 100)

    done = pairbot.run("doctor")

    assert done.returncode == 6, done.stdout + done.stderr
    assert lines(done.stdout)["ledger"] == "FAIL" and "Traceback" not in done.stdout + done.stderr
