"""`pairbot backtest` and `pairbot signals` through their command modules, in process and as a subprocess."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from bot.adapters.history.frame import synthetic_history
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


class TestSplitsBesideThePrices:
    """A CSV directory of the synthetic market, read as split-adjusted history (its SQQQ "costs" $15,500 in
    2015), with and without a splits.csv that gives SQQQ five 1-for-5 reverse splits."""

    ARGS = ["--strategy", "overlay", "--from", "2015-01-02", "--to", "2020-12-31"]

    @staticmethod
    def prices(tmp_path: Path, *, splits: bool) -> Path:
        folder = tmp_path / "prices"
        folder.mkdir()
        frames = synthetic_history(["SPY", "UPRO", "TNA", "SQQQ", "IWM"], start=date(2015, 1, 1),
                                   end=date(2020, 12, 31))
        for sym, frame in frames.items():
            frame.to_csv(folder / f"{sym}.csv", index_label="date", date_format="%Y-%m-%d")
        if splits:
            rows = [f"SQQQ,{y}-06-03,0.2,reverse" for y in (2016, 2018, 2020, 2022, 2026)]
            (folder / "splits.csv").write_text("\n".join(["symbol,date,ratio,kind", *rows]) + "\n")
        return folder

    def run(self, tmp_path: Path, capsys, *, splits: bool) -> tuple[str, dict]:
        """The command's printed summary and metrics.json for a run on these prices."""
        out = tmp_path / "out"
        args = parse(backtest, [*self.ARGS, "--prices", str(self.prices(tmp_path, splits=splits)), "--out", str(out)],
                     tmp_path)
        assert backtest.run(args) == 0
        assert (out / "backtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        return capsys.readouterr().out, json.loads((out / "metrics.json").read_text())

    def test_without_it_the_summary_metrics_and_figure_name_the_leg(self, tmp_path, capsys):
        printed, doc = self.run(tmp_path, capsys, splits=False)

        assert "with no split list (splits.csv)" in printed and "warning: SQQQ could not be held" in printed
        assert doc["prices_as_traded"] is False and [leg["symbol"] for leg in doc["unholdable_legs"]] == ["SQQQ"]
        assert "splits.csv" in doc["warnings"][0]

    def test_with_it_shares_are_sized_as_traded(self, tmp_path, capsys):
        printed, doc = self.run(tmp_path, capsys, splits=True)

        assert "note: prices as traded: 3 splits applied to the holdings (SQQQ 3)" in printed
        assert doc["prices_as_traded"] is True and doc["splits_applied"]["SQQQ"] == 3
        assert doc["unholdable_legs"] == [] and doc["warnings"] == []
        assert [s["on"] for s in doc["applied_splits"]] == ["2016-06-03", "2018-06-03", "2020-06-03"]
        assert len(doc["settings"]["splits"]) == 5

    def test_a_sweep_says_when_prices_are_not_as_traded(self, tmp_path, capsys):
        args = parse(backtest, [*self.ARGS, "--prices", str(self.prices(tmp_path, splits=False)),
                                "--sweep", "band=0.02,0.1"], tmp_path)

        assert backtest.run(args) == 0

        assert "with no split list (splits.csv)" in capsys.readouterr().out


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


def cli(argv: list[str], tmp_path: Path) -> int:
    """pairbot in process through its entry point; argparse's refusals become their exit code."""
    from bot.cli import main

    try:
        code = main([*argv, "--config", str(tmp_path / "absent.yaml")])
    except SystemExit as stop:
        code = int(stop.code or 0)
    return code


class TestBadInputThroughTheCli:
    @pytest.mark.parametrize("command", ["backtest", "signals", "research", "replay"])
    def test_a_negative_seed_is_a_usage_error(self, command, tmp_path, capsys):
        code = cli([command, "--seed", "-1"], tmp_path)

        assert code == 2
        assert "argument --seed: expected a whole number from 0, got '-1'" in capsys.readouterr().err

    @pytest.mark.parametrize("address", ["nonsense", "tcp://host", "host:0", "tcp://host:port", "http://h:1"])
    def test_a_malformed_cluster_address_is_one_line_exit_2(self, address, tmp_path, capsys):
        code = cli(["backtest", "--prices", "synthetic", "--sweep", "gross=0.5,1", "--cluster", address], tmp_path)

        err = capsys.readouterr().err
        assert code == 2 and "internal error" not in err and "Traceback" not in err, err
        assert f"argument --cluster: expected a Dask scheduler address such as tcp://host:8786, got {address!r}" in err

    def test_cluster_without_sweep_is_refused(self, tmp_path, capsys):
        from bot.cli import main

        (tmp_path / "config.yaml").write_text("mode: local\n")

        code = main(["backtest", "--config", str(tmp_path / "config.yaml"), "--prices", "synthetic",
                     "--cluster", "tcp://127.0.0.1:8786"])

        out, err = capsys.readouterr()
        assert (code, out) == (2, "")
        assert err == ("pairbot: --cluster runs sweeps only (their chunks go to the Dask scheduler): add --sweep "
                       "NAME=V1,V2,... or drop --cluster\n")

    def test_a_negative_seed_in_the_config_is_refused_as_bad_config(self, tmp_path, capsys):
        from bot.cli import main

        (tmp_path / "config.yaml").write_text("mode: local\nlocal: {seed: -1}\n")

        code = main(["backtest", "--config", str(tmp_path / "config.yaml")])

        assert code == 2
        err = capsys.readouterr().err
        assert err.startswith("pairbot: ") and "local.seed: Input should be greater than or equal to 0" in err

    @pytest.mark.parametrize("events", ["0", "-3", "x"])
    def test_events_must_be_a_positive_whole_number(self, events, tmp_path, capsys):
        code = cli(["signals", "--prices", "synthetic", "--events", events], tmp_path)

        assert code == 2
        assert f"argument --events: expected a whole number from 1, got '{events}'" in capsys.readouterr().err

    def test_signals_without_rotation_days_say_so_and_show_no_nan(self, tmp_path, capsys):
        code = cli(["signals", "--prices", "synthetic"], tmp_path)

        out = capsys.readouterr().out
        assert code == 0
        assert "no rotation days on these prices: no session's IWM-QQQ daily return reached 4 points" in out
        assert "nan" not in out.lower() and "Empty DataFrame" not in out
        assert "- where too few events to compute" in out

    def test_a_range_past_the_prices_names_where_they_end(self, tmp_path, capsys):
        prices = TestSplitsBesideThePrices.prices(tmp_path, splits=False)

        code = cli(["backtest", "--strategy", "overlay", "--prices", str(prices), "--from", "2030-01-01"],
                         tmp_path)

        assert code == 2
        assert capsys.readouterr().err == (
            "pairbot: fewer than 2 common sessions for SPY, SQQQ, TNA, UPRO from 2030-01-01 on; the prices' "
            "common sessions run 2015-01-02 to 2020-12-31\n")

    def test_a_price_file_given_for_the_directory_is_named_a_file(self, tmp_path, capsys):
        prices = TestSplitsBesideThePrices.prices(tmp_path, splits=False)

        code = cli(["backtest", "--prices", str(prices / "IWM.csv")], tmp_path)

        assert code == 2
        assert f"{prices / 'IWM.csv'}: a file, not a directory" in capsys.readouterr().err

    def test_a_split_ratio_that_is_not_a_number_is_quoted(self, tmp_path, capsys):
        prices = TestSplitsBesideThePrices.prices(tmp_path, splits=False)
        (prices / "splits.csv").write_text("symbol,date,ratio\nSQQQ,2016-06-03,1:5\n")

        code = cli(["backtest", "--strategy", "overlay", "--prices", str(prices)], tmp_path)

        assert code == 2
        assert capsys.readouterr().err.startswith(
            f"pairbot: {prices / 'splits.csv'}: line 2: ratio '1:5' is not a number")

    def test_an_out_path_that_cannot_be_a_directory_is_refused_before_the_run(self, tmp_path, capsys, monkeypatch):
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        monkeypatch.setattr(backtest, "run_backtest", lambda *a: pytest.fail("the backtest ran"))

        code = cli(["backtest", "--prices", "synthetic", "--out", str(blocker / "x")], tmp_path)

        assert code == 2
        assert f"argument --out: {blocker} is a file, not a directory" in capsys.readouterr().err
