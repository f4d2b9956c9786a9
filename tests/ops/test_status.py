"""`pairbot status` on the embedded default after a rebalance."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.exchange import ExchangeSettings, LocalExchange
from bot.adapters.hostzone import host_zone
from tests.e2e.conftest import KEY, SECRET, paper_env, trading_hours
from tests.ops.conftest import Pairbot

NEXT_RUN = re.compile(r"next run:? +window [\d:-]+ New York, (?:now|next) \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d) New York "
                      r"\(\w{3} (\d\d:\d\d) (\S+) on this host\)")


def test_status_shows_account_positions_book_pnl_next_rebalance_and_last_run(traded: Pairbot) -> None:
    done = traded.run("status")

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "account PA-" in out and "ACTIVE (not blocked)" in out
    assert "IWM" in out and "QQQ" in out
    assert "gross" in out and "long/short" in out and "effective" in out
    assert "P&L since inception:" in out
    assert "next calendar rebalance:" in out
    assert "last run:" in out and "nothing_to_do" in out


def test_status_json_reports_each_leg_the_book_the_pnl_and_the_last_run(traded: Pairbot) -> None:
    done = traded.run("status", "--json")

    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    legs = {leg["symbol"]: leg for leg in doc["legs"]}
    assert Decimal(legs["IWM"]["qty"]) > 0 and Decimal(legs["QQQ"]["qty"]) < 0
    assert Decimal(legs["IWM"]["target"]) == Decimal("0.5") and Decimal(legs["QQQ"]["target"]) == Decimal("-0.5")
    for leg in legs.values():
        assert Decimal(leg["drift"]) == Decimal(leg["weight"]) - Decimal(leg["target"])
        assert abs(Decimal(leg["value"])) > 0 and Decimal(leg["price"]) > 0
    assert Decimal(doc["book"]["gross"]) > Decimal("0.9")
    assert Decimal(doc["book"]["long_short_ratio"]) > 0
    assert set(doc["book"]["effective"]) == {"IWM", "QQQ"}
    assert doc["pnl"]["inception_equity"] == "100000"
    assert Decimal(doc["pnl"]["since_inception"]) == Decimal(doc["equity"]) - Decimal("100000")
    assert doc["account_flags"]["shorting_enabled"] is True
    assert doc["last_run"]["outcome"] == "nothing_to_do"
    assert doc["next_rebalance"]


@pytest.fixture
def exchange() -> Iterator[LocalExchange]:
    with LocalExchange(ExchangeSettings(state_path=None, api_key=KEY, secret_key=SECRET, now=trading_hours())) as ex:
        yield ex


@pytest.mark.parametrize("command", ["status", "doctor"])
def test_the_next_runs_host_time_is_in_the_zone_pairbot_cron_writes_for_not_the_shells_tz(
        pairbot: Pairbot, exchange: LocalExchange, command: str) -> None:
    """A shell's TZ does not move cron's daemon, so status and doctor show the host time cron will fire at."""
    tz = "Asia/Kathmandu"  # +05:45: unlike any system zone a test host has
    cron_zone = host_zone(None, environ={"TZ": tz}).zone
    pairbot.write_config(mode="paper")

    done = pairbot.run(command, env={**paper_env(exchange), "TZ": tz})

    assert done.returncode == 0, done.stdout + done.stderr
    found = NEXT_RUN.search(done.stdout)
    assert found is not None, done.stdout
    at = datetime.strptime(found[1], "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("America/New_York"))
    assert (found[2], found[3]) == (f"{at.astimezone(cron_zone):%H:%M}", at.astimezone(cron_zone).tzname())


def test_a_run_from_another_directory_reads_the_same_book_as_the_config_files_own(traded: Pairbot,
                                                                                  tmp_path: Path) -> None:
    elsewhere = Pairbot(workdir=tmp_path, env=traded.env)

    here, there = traded.run("status"), elsewhere.run("status", "--config", str(traded.config))

    assert there.returncode == 0, there.stderr
    held = [line for line in here.stdout.splitlines() if line.strip().startswith(("IWM", "QQQ"))]
    assert held and all(line in there.stdout for line in held)  # the same positions, not a fresh local account
    assert not (tmp_path / ".state").exists() and not (tmp_path / "logs").exists()
