"""Bad rows in a `local.prices` CSV directory: exit 2, one line naming the file, and no order."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Cli

GOOD = ["2025-01-02,100,101,99,100.5,100.5,1000", "2025-01-03,100.5,102,100,101.0,101.0,1200"]
HEADER = "date,open,high,low,close,adj_close,volume"
BAD_ROWS = {
    "a negative close": [*GOOD, "2025-01-06,101,102,100,-5,-5,900"],
    "a non-numeric close": [*GOOD, "2025-01-06,101,102,100,abc,abc,900"],
    "a duplicate date": [*GOOD, GOOD[1]],
    "dates out of order": [GOOD[1], GOOD[0]],
    "a bad date": [*GOOD, "2025-13-45,101,102,100,101,101,900"],
}


@pytest.mark.parametrize("rows", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_a_bad_price_row_is_exit_2_one_line_and_no_order(cli: Cli, rows: list[str]) -> None:
    prices = cli.workdir / "prices"
    prices.mkdir()
    for sym in ("IWM", "QQQ"):
        (prices / f"{sym}.csv").write_text("\n".join([HEADER, *GOOD]) + "\n")
    (prices / "QQQ.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    cli.write_config(local={"prices": "prices"})

    result = cli.run("rebalance")

    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pairbot: ") and "QQQ.csv" in lines[0], result.stderr
    assert not (cli.workdir / ".state" / "ledger-local.sqlite").exists() or "orders:" not in result.stdout
