"""`pairbot status` on the embedded default after a rebalance."""

from __future__ import annotations

import json
from decimal import Decimal

from tests.ops.conftest import Pairbot


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
