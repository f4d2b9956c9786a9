"""The commands' research edges: what metrics.json says about its prices, sweeps checked before they run,
walk-forward, signals as of a date, warnings about the data."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from bot.adapters.history.frame import synthetic_history
from bot.commands import backtest, signals
from bot.commands.sweeping import SWEEP_METRICS
from bot.errors import ConfigError
from bot.research.backtest import BacktestSettings
from bot.research.backtest.sweep import run_sweep
from tests.backtest.test_commands import parse

SHORT = ["--prices", "synthetic", "--from", "2018-01-02", "--to", "2020-12-31", "--resamples", "200"]


def write_prices(folder: Path, *, drop_adj_close: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for sym, frame in synthetic_history(["IWM", "QQQ", "SPY"], start=date(2016, 1, 4),
                                        end=date(2020, 12, 31)).items():
        table = frame.drop(columns=["adj_close"]) if sym == drop_adj_close else frame
        table.to_csv(folder / f"{sym}.csv", index_label="date", date_format="%Y-%m-%d")
    return folder


class TestMetricsJson:
    def test_a_directory_run_names_the_folder_hashes_its_files_and_keeps_every_setting(self, tmp_path, capsys):
        prices, out = write_prices(tmp_path / "prices"), tmp_path / "out"

        assert backtest.run(parse(backtest, ["--prices", str(prices), "--out", str(out), "--resamples", "200",
                                             "--param", "gross=1.5"], tmp_path)) == 0

        doc = json.loads((out / "metrics.json").read_text())
        assert doc["source"]["kind"] == "directory" and doc["source"]["path"] == str(prices.resolve())
        assert set(doc["source"]["files"]) == {"IWM.csv", "QQQ.csv", "SPY.csv"}
        assert re.fullmatch(r"[0-9a-f]{64}", doc["source"]["sha256"])
        assert doc["strategy_params"] == {"gross": "1.5"}
        assert {"leg_band", "frequency", "commission_bps", "borrow_bps", "cash_rate"} <= set(doc["settings"])
        assert doc["intervals"]["resamples"] == 200 and doc["intervals"]["mean_block_sessions"] == 63
        for key in ("cagr", "sharpe", "max_drawdown", "excess_cagr_vs_cash", "excess_cagr_vs_SPY"):
            assert doc["intervals"][key]["low"] <= doc["intervals"][key]["high"]
        printed = capsys.readouterr().out
        assert "95% intervals: stationary block bootstrap" in printed and "CAGR minus SPY's" in printed

    def test_a_synthetic_run_says_synthetic_everywhere(self, tmp_path, capsys):
        assert backtest.run(parse(backtest, [*SHORT, "--out", str(tmp_path)], tmp_path)) == 0

        doc = json.loads((tmp_path / "metrics.json").read_text())
        assert doc["source"] == {"kind": "synthetic", "seed": 7, "note": "a seeded random market, not history"}
        assert doc["prices_label"] == "SYNTHETIC (seed 7)"
        assert "SYNTHETIC" in capsys.readouterr().out

    def test_a_file_without_adj_close_is_warned_about(self, tmp_path, capsys):
        prices = write_prices(tmp_path / "prices", drop_adj_close="IWM")

        assert backtest.run(parse(backtest, ["--prices", str(prices), "--resamples", "0", "--out",
                                             str(tmp_path / "out")], tmp_path)) == 0

        assert "warning: IWM.csv has no adj_close column" in capsys.readouterr().out
        warnings = json.loads((tmp_path / "out" / "metrics.json").read_text())["warnings"]
        assert any("IWM.csv has no adj_close" in w for w in warnings)

    def test_a_benchmark_that_does_not_cover_the_range_is_noted(self, tmp_path, capsys):
        prices = write_prices(tmp_path / "prices")
        spy = (prices / "SPY.csv").read_text().splitlines()
        (prices / "SPY.csv").write_text("\n".join(spy[:400]) + "\n")

        assert backtest.run(parse(backtest, ["--prices", str(prices), "--resamples", "0"], tmp_path)) == 0

        assert "note: benchmark SPY left out: its data (2016-01-04 .. 2017-08-" in capsys.readouterr().out

    def test_a_gated_pair_prints_its_time_in_the_market_and_episodes(self, tmp_path, capsys):
        args = parse(backtest, [*SHORT, "--param", "max_trailing_spread=0", "--resamples", "0"], tmp_path)

        assert backtest.run(args) == 0

        assert re.search(r"gate: in the market \d+\.\d% of sessions .* episodes", capsys.readouterr().out)

    def test_rebalance_days_prints_the_spread_of_results_by_offset(self, tmp_path, capsys):
        args = parse(backtest, [*SHORT, "--strategy", "replica", "--param", "symbol=IWM", "--param", "multiple=1",
                                "--rebalance-days", "5", "--resamples", "0"], tmp_path)

        assert backtest.run(args) == 0

        assert re.search(r"rebalance day: 5 offsets .* the first session \(offset 0\) ranks \d of 5",
                         capsys.readouterr().out)


class TestSweepArguments:
    @pytest.mark.parametrize(("argv", "match"), [
        (["--sweep", "band=-0.05"], "leg_band must be a non-negative number, got -0.05"),
        (["--band", "-0.05"], "leg_band must be a non-negative number, got -0.05"),
        (["--sweep", "band=abc"], "leg_band: 'abc' is not a number"),
        (["--sweep", "frequency=weekly"], "'weekly' is not one of"),
        (["--sweep", "cost_bps=1"], "unknown parameter"),
        (["--band", "0.05", "--no-band"], "contradict"),
        (["--band", "0.05", "--sweep", "band=0.02,0.1"], "--sweep band and --band both set leg_band"),
        (["--param", "gross=1", "--sweep", "gross=1,2"], "--param gross both set gross"),
        (["--sweep", "band=0.02", "--sweep", "leg_band=0.05"], "more than once"),
        (["--sweep", "band=0.02", "--sort-by", "foo"], "cannot sort by 'foo'"),
        (["--sweep", "band=0.02", "--top", "0"], "--top must be at least 1"),
        (["--train-to", "2019-06-28"], "add --sweep"),
        (["--sweep", "gross=1,2", "--rebalance-days", "5"], "drop --sweep"),
        (["--refit-every", "2"], "--refit-every chooses among a sweep's variants"),
        (["--sweep", "gross=1,2", "--train-years", "3"], "add --refit-every YEARS"),
        (["--sweep", "gross=1,2", "--window", "rolling"], "add --refit-every YEARS"),
        (["--sweep", "gross=1,2", "--refit-every", "2", "--train-to", "2019-06-28"], "choose one"),
        (["--sweep", "gross=1,2", "--refit-every", "0"], "whole years from 1 to 50, got 0 and 5"),
        (["--sweep", "gross=1,2", "--refit-every", "1", "--train-years", "3"], "no test span of a month"),
    ])
    def test_is_refused_before_anything_runs(self, tmp_path, capsys, argv, match):
        with pytest.raises(ConfigError, match=re.escape(match)):
            backtest.run(parse(backtest, [*SHORT, *argv], tmp_path))

        assert "variants" not in capsys.readouterr().err

    def test_the_sort_keys_offered_are_the_columns_a_sweep_measures(self):
        frames = synthetic_history(["IWM", "QQQ"], start=date(2019, 1, 2), end=date(2019, 12, 31))

        table = run_sweep(frames, "pair", {}, {"gross": [1.0]}, BacktestSettings())

        assert set(table.columns) - {"gross"} == set(SWEEP_METRICS)

    def test_progress_goes_to_a_redirected_stderr_as_whole_lines(self, tmp_path, capsys):
        args = parse(backtest, [*SHORT, "--sweep", "band=0.02,0.00005"], tmp_path)

        assert backtest.run(args) == 0

        captured = capsys.readouterr()
        assert "\r" not in captured.err and "2/2 variants\n" in captured.err
        assert "0.00005" in captured.out and "e-05" not in captured.out
        assert re.search(r"cagr %.*\n.*[+-]\d+\.\d\d ", captured.out)

    def test_a_gated_sweep_moves_its_start_as_a_single_backtest_does(self, tmp_path, capsys):
        args = parse(backtest, [*SHORT, "--sweep", "max_trailing_spread=-0.1,0"], tmp_path)

        assert backtest.run(args) == 0

        assert "note: start moved to 2019-01-" in capsys.readouterr().out

    def test_walk_forward_prints_the_choice_out_of_sample_beside_the_in_sample_best(self, tmp_path, capsys):
        args = parse(backtest, ["--prices", "synthetic", "--from", "2014-01-02", "--to", "2020-12-31",
                                "--sweep", "max_trailing_spread=-0.1,0,0.1", "--train-to", "2018-12-31",
                                "--out", str(tmp_path)], tmp_path)

        assert backtest.run(args) == 0

        printed = capsys.readouterr().out
        assert "chosen on 2015-01-" in printed and "tested on 2019-01-02 .. 2020-12-31" in printed
        assert "in sample: best by sharpe" in printed and "out of sample: the same (rank" in printed
        assert (tmp_path / "sweep_train.csv").is_file() and (tmp_path / "sweep_test.csv").is_file()


    def test_a_refit_walk_forward_prints_each_choice_and_the_chained_record(self, tmp_path, capsys):
        args = parse(backtest, ["--prices", "synthetic", "--from", "2010-01-04", "--to", "2020-12-31",
                                "--sweep", "band=0.02,0.1", "--sweep", "frequency=monthly,quarterly",
                                "--refit-every", "2", "--train-years", "4", "--window", "rolling",
                                "--out", str(tmp_path)], tmp_path)

        assert backtest.run(args) == 0

        printed = capsys.readouterr()
        assert "refit every 2 years (rolling)" in printed.out and "on the 4 years before it" in printed.out
        assert "2010-01-04 .. 2014-01-03" in printed.out and "2012-01-04 .. 2016-01-04" in printed.out
        assert re.search(r"chained out of sample, 2014-01-06 \.\. 2020-12-31: the refit choices [+-]\d+\.\d\d%/yr",
                         printed.out)
        table = (tmp_path / "walk_forward.csv").read_text().splitlines()
        assert table[0].startswith("train_start,train_end,test_start,test_end,leg_band,frequency,train_cagr")
        assert len(table) == 1 + 4 and (tmp_path / "sweep.csv").is_file()
        assert "\r" not in printed.err and printed.err.rstrip().endswith("36/36 variants")  # (1 + 4 x 2) sweeps x 4


class TestSignalsAsOf:
    def test_as_of_cuts_the_history_at_that_close(self, tmp_path, capsys):
        args = parse(signals, ["--prices", "synthetic", "--as-of", "2015-06-30", "--json"], tmp_path)

        assert signals.run(args) == 0

        doc = json.loads(capsys.readouterr().out)
        assert doc["as_of"] == "2015-06-30" and doc["trailing_spread"]["as_of"] == "2015-06-30"
        assert all(e["date"] <= "2015-06-30" for e in doc["rotation_days"]["events"])
        assert [s["horizon"] for s in doc["rotation_days"]["overlap_robust"]] == [63, 252]

    def test_on_the_shared_prices_mid_2024_shows_the_notes_figures(self, real_prices_dir, tmp_path, capsys):
        """24 rotation days before July 2024, their overlap-robust statistics, the spread in February 2024."""
        args = parse(signals, ["--prices", str(real_prices_dir), "--as-of", "2024-07-01"], tmp_path)

        assert signals.run(args) == 0

        printed = capsys.readouterr().out
        assert "24 events" in printed and "2024-02-29 -40.7 pts" in printed
        assert "63 sessions      24" in printed and "non-overlapping windows" in printed
        assert printed.count("*  +") + printed.count("  +") > 24
        assert "NDX/RUT on 2024-07-01: 9.76" in printed

    def test_figures_dated_differently_are_flagged(self, real_prices_dir, tmp_path, capsys):
        assert signals.run(parse(signals, ["--prices", str(real_prices_dir)], tmp_path)) == 0

        assert "note: dated differently: the spread and the trend are as of 2025-09-26, NDX/RUT as of 2026-02-23" \
            in capsys.readouterr().out
