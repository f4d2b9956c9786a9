"""`pairbot backtest` and `pairbot signals` through their command modules, in process and as a subprocess."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bot.commands import backtest, signals
from bot.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[2]


def parse(module, argv: list[str], tmp_path: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, default=tmp_path / "absent.yaml")
    module.add_arguments(parser)
    return parser.parse_args(argv)


class TestBacktestCommand:
    def test_writes_equity_trades_metrics_and_a_png(self, tmp_path, capsys):
        out = tmp_path / "run"
        args = parse(backtest, ["--prices", "synthetic", "--from", "2018-01-02", "--to", "2022-12-30",
                                "--out", str(out), "--borrow-bps", "50", "--cash-rate", "BIL"], tmp_path)

        assert backtest.run(args) == 0

        printed = capsys.readouterr().out
        assert "SYNTHETIC" in printed and "SPY" in printed and "CAGR" in printed
        doc = json.loads((out / "metrics.json").read_text())
        for key in ("final_equity", "cagr", "volatility", "sharpe", "max_drawdown", "rebalances", "turnover"):
            assert key in doc
        equity = pd.read_csv(out / "equity.csv", index_col="date")
        assert equity["equity"].iloc[-1] == pytest.approx(doc["final_equity"], rel=1e-9)
        assert {"SPY_buy_hold", "IWM_buy_hold", "gross", "net", "drawdown"} <= set(equity.columns)
        assert len(pd.read_csv(out / "trades.csv")) == doc["trades"]
        assert (out / "backtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def test_sweep_prints_a_sorted_table_and_a_progress_bar(self, tmp_path, capsys):
        args = parse(backtest, ["--prices", "synthetic", "--from", "2018-01-02", "--to", "2020-12-31",
                                "--sweep", "band=0.02,0.1", "--sweep", "frequency=quarterly,annual",
                                "--sweep", "hedge=short,inverse", "--sort-by", "max_drawdown",
                                "--out", str(tmp_path)], tmp_path)

        assert backtest.run(args) == 0

        captured = capsys.readouterr()
        assert "8/8" in captured.err
        table = pd.read_csv(tmp_path / "sweep.csv")
        assert len(table) == 8 and table["max_drawdown"].is_monotonic_decreasing

    @pytest.mark.parametrize(
        ("argv", "error", "match"),
        [
            (["--strategy", "nope"], ConfigError, "unknown strategy"),
            (["--from", "2020-01-02", "--to", "2019-01-02"], ConfigError, "before"),
            (["--prices", "/no/such/dir"], DataError, "does not exist"),
            (["--param", "gross=-1"], ConfigError, "gross"),
            (["--cash-rate", "4%"], ConfigError, "cash-rate"),
            (["--sweep", "band"], ConfigError, "name=v1"),
        ],
    )
    def test_bad_input_raises_a_one_line_config_error(self, tmp_path, argv, error, match):
        args = parse(backtest, ["--prices", "synthetic", "--from", "2019-01-02", "--to", "2019-06-28", *argv],
                     tmp_path)

        with pytest.raises(error, match=match) as raised:
            backtest.run(args)
        assert "\n" not in str(raised.value)

    def test_runs_as_a_subprocess(self, tmp_path):
        code = ("import sys; from bot.cli import main; sys.exit(main(sys.argv[1:]))")
        done = subprocess.run(
            [sys.executable, "-c", code, "backtest", "--prices", "synthetic", "--from", "2019-01-02",
             "--to", "2020-12-31", "--config", str(tmp_path / "absent.yaml"), "--out", str(tmp_path)],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )

        assert done.returncode == 0, done.stderr
        assert "final equity" in done.stdout
        assert (tmp_path / "metrics.json").is_file()

    def test_a_bad_prices_dir_exits_2_as_a_subprocess(self, tmp_path):
        code = ("import sys; from bot.cli import main; sys.exit(main(sys.argv[1:]))")
        done = subprocess.run(
            [sys.executable, "-c", code, "backtest", "--prices", str(tmp_path / "nothing"),
             "--config", str(tmp_path / "absent.yaml")],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )

        assert done.returncode == 2
        assert done.stderr.strip().count("\n") == 0


class TestRealData:
    def test_quarterly_pair_over_25_years_reports_against_spy_and_iwm(self, real_prices_dir, tmp_path, capsys):
        args = parse(backtest, ["--prices", str(real_prices_dir), "--out", str(tmp_path)], tmp_path)

        assert backtest.run(args) == 0

        doc = json.loads((tmp_path / "metrics.json").read_text())
        assert doc["start"] == "2000-05-26" and doc["end"] == "2025-09-26"
        assert set(doc["benchmarks"]) == {"SPY", "IWM"}

    def test_signals_table_has_rotation_events_and_the_spread_history(self, real_prices_dir, tmp_path, capsys):
        args = parse(signals, ["--prices", str(real_prices_dir), "--out", str(tmp_path)], tmp_path)

        assert signals.run(args) == 0

        printed = capsys.readouterr().out
        assert "rotation days" in printed and "NDX/RUT" in printed and "2020-11-09*" in printed
        spread = pd.read_csv(tmp_path / "spread.csv", index_col=0)
        events = pd.read_csv(tmp_path / "events.csv", index_col=0)
        assert len(spread) > 6000 and spread.index[0] == "2001-05-29"
        assert len(events) >= 20 and {"fwd_3m_IWM", "fwd_252d_QQQ", "first_in_cluster"} <= set(events.columns)

    def test_signals_json_is_one_document(self, real_prices_dir, tmp_path, capsys):
        args = parse(signals, ["--prices", str(real_prices_dir), "--json"], tmp_path)

        assert signals.run(args) == 0

        doc = json.loads(capsys.readouterr().out)
        assert doc["index_ratio"]["numerator"] == "NDX"
        assert doc["trailing_spread"]["history_start"] == "2001-05-29"
        first = doc["rotation_days"]["events"][0]
        assert first["date"] == "2000-09-21" and first["spread"] >= 0.04
