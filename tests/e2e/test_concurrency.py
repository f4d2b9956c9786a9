"""One run at a time: the flock turns a second cron firing into exit 75 with nothing sent."""

from __future__ import annotations

import fcntl
import os
from decimal import Decimal

from bot.adapters.exchange import ExchangeSettings, LocalExchange
from tests.e2e.conftest import KEY, SECRET, Cli, paper_env, trading_hours


def test_a_run_while_the_lock_is_held_exits_75_and_sends_nothing(cli: Cli, exchange: LocalExchange) -> None:
    cli.write_config(mode="paper")
    (cli.workdir / ".state").mkdir()
    fd = os.open(cli.workdir / ".state" / "pairbot.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        result = cli.run("rebalance", env=paper_env(exchange))
    finally:
        os.close(fd)

    assert result.returncode == 75
    assert "another pairbot run holds" in result.stderr
    assert len(exchange.requests) == 0


def test_five_runs_started_at_once_trade_exactly_once(cli: Cli) -> None:
    settings = ExchangeSettings(state_path=None, api_key=KEY, secret_key=SECRET, now=trading_hours(),
                                starting_cash=Decimal("100000"),
                                fill_latency_seconds=1.5)
    with LocalExchange(settings) as ex:
        cli.write_config(mode="paper")
        runs = [cli.popen("rebalance", env=paper_env(ex)) for _ in range(5)]
        codes = [p.wait(timeout=120) for p in runs]
        posts = [q for m, p, q in ex.requests if (m, p) == ("POST", "/v2/orders")]

    assert set(codes) <= {0, 75}
    assert codes.count(75) >= 3
    assert len(posts) == 2  # one IWM buy and one QQQ short, from exactly one run
