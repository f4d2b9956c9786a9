"""Paper trading and the backtest agree: the real runner over HTTP, day by day on the local exchange's
replay clock, ends with the backtest's equity and trades on the same prices."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.adapters.history.frame import synthetic_history
from bot.config import parse_config
from bot.research.parity import replay
from tests.e2e.conftest import Cli, Outcome

REAL_PRICES = Path(__file__).resolve().parents[3] / "shared" / "data" / "prices"


@pytest.mark.parametrize("strategy", ["pair", "overlay"])
def test_a_replay_through_the_exchange_matches_the_backtest_to_the_cent(tmp_path: Path, strategy: str) -> None:
    config = parse_config({"mode": "local", "strategy": strategy, "schedule": {"frequency": "monthly",
                                                                             "drift_band": 0.03}})
    strat = config.build_strategy()
    frames = synthetic_history(sorted(strat.universe), start=date(2023, 1, 1), end=date(2023, 7, 1), seed=3)

    result = replay(config, strat, frames, start=date(2023, 1, 3), end=date(2023, 6, 30), workdir=tmp_path)

    assert result.failures == ()
    assert result.trades_identical
    assert len(result.paper_trades) >= 6
    assert abs(result.equity_difference) < 0.01


def test_pairbot_replay_prints_the_difference_and_exits_0_when_they_agree(cli: Cli) -> None:
    cli.write_config()

    done = cli.run("replay", "--prices", "synthetic", "--from", "2024-01-02", "--to", "2024-03-28",
                   "--slippage-bps", "0")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "difference" in done.stdout and "identical" in done.stdout


@pytest.mark.skipif(not REAL_PRICES.is_dir(), reason="real price history (../shared/data/prices) is not present")
def test_half_a_year_of_real_iwm_qqq_history_replays_to_the_backtest(tmp_path: Path) -> None:
    from bot.adapters.history.frame import load_csv_dir

    config = parse_config({"mode": "local"})
    strat = config.build_strategy()
    frames = load_csv_dir(REAL_PRICES, ["IWM", "QQQ"])

    result = replay(config, strat, frames, start=date(2025, 3, 27), end=date(2025, 9, 26), workdir=tmp_path)

    assert result.trades_identical and result.failures == ()
    assert abs(result.equity_difference) <= 1.0


@pytest.mark.skipif(not REAL_PRICES.is_dir(), reason="real price history (../shared/data/prices) is not present")
@pytest.mark.parametrize(("strategy", "params", "start", "end", "split"), [
    ("pair", {"hedge": "inverse"}, date(2024, 3, 1), date(2024, 6, 28), "PSQ 2024-04-10 1-for-5"),
    ("overlay", {}, date(2024, 9, 3), date(2024, 12, 31), "SQQQ 2024-11-07 1-for-5"),
], ids=["PSQ pair across its 2024 reverse split", "overlay across SQQQ's 2024 reverse split"])
def test_a_replay_across_a_real_split_matches_the_backtest_to_the_cent(
        tmp_path: Path, strategy: str, params: dict[str, str], start: date, end: date, split: str) -> None:
    from bot.adapters.history.frame import load_csv_dir
    from bot.adapters.history.splits import splits_beside

    config = parse_config({"mode": "local", "strategy": strategy, "strategies": {strategy: params}})
    strat = config.build_strategy()
    frames = load_csv_dir(REAL_PRICES, sorted(strat.universe))

    result = replay(config, strat, frames, start=start, end=end, workdir=tmp_path,
                    splits=splits_beside(REAL_PRICES) or ())

    assert result.splits == (split,)
    assert result.failures == () and result.trades_identical
    assert abs(result.equity_difference) < 0.005


def test_an_out_directory_that_holds_an_earlier_replay_is_refused_with_one_line(cli: Cli) -> None:
    """A second replay into the same --out read the first one's ledger: the same range failed on a duplicate
    run id (exit 1), another range on every session ("the account changed outside pairbot")."""
    cli.write_config()
    out = cli.workdir / "replay-out"
    first = cli.run("replay", "--prices", "synthetic", "--from", "2024-01-02", "--to", "2024-01-12", "--out", str(out))
    assert first.returncode == 0, first.stdout + first.stderr

    for end in ("2024-01-12", "2024-01-19"):
        done = cli.run("replay", "--prices", "synthetic", "--from", "2024-01-02", "--to", end, "--out", str(out))

        assert (done.returncode, done.stdout) == (2, ""), done.stdout + done.stderr
        line = Outcome(done.returncode, done.stdout, done.stderr, 0).one_line()
        assert f"--out {out}: already holds a replay" in line and "choose an empty directory or remove" in line
