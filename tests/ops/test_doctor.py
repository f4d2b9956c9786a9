"""`pairbot doctor`: one PASS/FAIL line per check, a coded exit, never a traceback."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from alpaca.trading.client import TradingClient

from bot.adapters.exchange import ExchangeSettings, LocalExchange
from tests.e2e.conftest import trading_hours
from tests.ops.conftest import Pairbot

KEY, SECRET = "PK" + "DOCTOR0000000000AB", "doctor-secret-not-real"  # built: no key-shaped literal in git
CHECKS = ("config", "paths", "keys", "broker", "clock", "account", "short assets", "book", "open orders", "next run",
          "ledger", "reconcile", "schema", "kill switch")


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


@pytest.mark.parametrize(("section", "code"), [("logs", 2), ("ledger", 6)])
def test_doctor_fails_a_log_or_ledger_path_a_rebalance_could_not_write_with_the_rebalances_exit(
        pairbot: Pairbot, section: str, code: int) -> None:
    blocker = pairbot.workdir / "a-file"
    blocker.write_text("")
    where = {"logs": str(blocker / "logs")} if section == "logs" else {"ledger": str(blocker / "ledger.sqlite")}
    pairbot.write_config(paths=where)

    done, run = pairbot.run("doctor"), pairbot.run("rebalance")

    assert run.returncode == code, run.stdout + run.stderr
    assert done.returncode == code, done.stdout + done.stderr
    assert lines(done.stdout)["paths"] == "FAIL" and f"{blocker}" in done.stdout


def test_doctor_fails_an_open_order_someone_else_placed_in_pairbots_symbol(pairbot: Pairbot,
                                                                          exchange: LocalExchange) -> None:
    pairbot.write_config(mode="paper")
    env = {"ALPACA_API_KEY": KEY, "ALPACA_SECRET_KEY": SECRET, "ALPACA_BASE_URL": exchange.base_url,
           "ALPACA_DATA_URL": exchange.base_url}
    assert pairbot.run("rebalance", env=env).returncode == 0
    TradingClient(KEY, SECRET, paper=True, url_override=exchange.base_url).post("/orders", {
        "symbol": "IWM", "qty": "1", "side": "buy", "type": "limit", "limit_price": "1.00", "time_in_force": "day",
        "client_order_id": "by-hand-1"})

    done, status = pairbot.run("doctor", env=env), pairbot.run("status", env=env)

    assert done.returncode == 3, done.stdout + done.stderr
    assert lines(done.stdout)["open orders"] == "FAIL" and "not placed by pairbot in IWM" in done.stdout
    assert "open orders not placed by pairbot in IWM" in status.stdout


def test_doctor_exits_75_while_another_run_holds_the_lock(pairbot: Pairbot) -> None:
    import fcntl

    lock = pairbot.workdir / ".state" / "pairbot.lock"
    lock.parent.mkdir(parents=True)
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)

        done = pairbot.run("doctor")

    assert done.returncode == 75, done.stdout + done.stderr
    assert lines(done.stdout)["lock"] == "FAIL" and "try again when it is done" in done.stdout
