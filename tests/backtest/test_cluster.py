"""Sweeps on threads and on a Dask cluster of two worker processes give the local table, bit for bit."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date

import pandas as pd
import pytest

from bot.errors import ConfigError
from bot.research.backtest import BacktestSettings
from bot.research.backtest.cluster import connect
from bot.research.backtest.sweep import run_sweep
from bot.research.hindsight import refit_walk_forward
from tests.backtest.test_reference import SYNTHETIC_SPLITS, yahoo_style

GRID: dict[str, list[object]] = {"leg_band": [0.02, 0.05, None], "frequency": ["monthly", "annual"],
                                 "gross": [1.0, 1.5], "hedge": ["short", "inverse"], "borrow_bps": [0, 80]}
SETTINGS = BacktestSettings(start=date(2016, 1, 4), end=date(2024, 12, 31), slippage_bps=2, cash_rate=0.02,
                            splits=SYNTHETIC_SPLITS)


def assert_same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for col in a.columns:
        if a[col].dtype.kind == "f":
            assert a[col].to_numpy().tobytes() == b[col].to_numpy().tobytes(), col
    assert a.attrs == b.attrs


@pytest.fixture(scope="module")
def frames(synthetic: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return yahoo_style(synthetic, SYNTHETIC_SPLITS)


@pytest.fixture(scope="module")
def local_table(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return run_sweep(frames, "pair", {}, GRID, SETTINGS, workers=1, chunk=7)


class TestOnThreads:
    @pytest.mark.parametrize(("workers", "chunk"), [(2, 5), (2, None), (3, 1000)])
    def test_any_chunks_on_any_threads_give_the_same_table(self, frames, local_table, workers, chunk):
        assert_same_table(run_sweep(frames, "pair", {}, GRID, SETTINGS, workers=workers, chunk=chunk), local_table)

    def test_next_open_fills_and_book_bands_too(self, frames):
        settings = dataclasses.replace(SETTINGS, fill="next_open", net_band=0.03, fractional_longs=True)

        one = run_sweep(frames, "pair", {}, GRID, settings, workers=1)
        two = run_sweep(frames, "pair", {}, GRID, settings, workers=2, chunk=3)

        assert_same_table(one, two)


@pytest.fixture(scope="module")
def cluster_address() -> Iterator[str]:
    """A local Dask cluster of two worker processes, one thread each, started for these tests."""
    distributed = pytest.importorskip("distributed", reason="the cluster extra is not installed: "
                                                             "pip install 'pairbot[cluster]'")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  host="127.0.0.1") as cluster:
        yield cluster.scheduler_address


class TestOnACluster:
    def test_two_worker_processes_return_the_local_table(self, frames, local_table, cluster_address):
        table = run_sweep(frames, "pair", {}, GRID, SETTINGS, cluster=cluster_address, chunk=6)

        assert_same_table(table, local_table)

    def test_progress_counts_every_row(self, frames, cluster_address):
        seen: list[tuple[int, int]] = []

        run_sweep(frames, "pair", {}, GRID, SETTINGS, cluster=cluster_address, chunk=10,
                  progress=lambda done, total: seen.append((done, total)))

        assert seen[-1] == (48, 48) and [d for d, _ in seen] == sorted(d for d, _ in seen)

    def test_a_refit_walk_forward_on_the_cluster_makes_the_local_choices(self, frames, cluster_address):
        grid = {"leg_band": [0.02, 0.08], "frequency": ["monthly", "annual"]}

        distributed = pytest.importorskip("distributed")

        def transitions() -> int:
            with distributed.Client(cluster_address) as client:
                return int(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter))

        local = refit_walk_forward(frames, "pair", {}, grid, SETTINGS, refit_years=2, train_years=3)
        before = transitions()
        remote = refit_walk_forward(frames, "pair", {}, grid, SETTINGS, refit_years=2, train_years=3,
                                    cluster=cluster_address)

        assert transitions() > before  # its sweeps ran as the scheduler's tasks
        pd.testing.assert_frame_equal(local.table, remote.table, check_exact=True)
        assert_same_table(local.whole, remote.whole)

    def test_an_unreachable_scheduler_is_a_config_error(self):
        pytest.importorskip("distributed", reason="the cluster extra is not installed")

        with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"), connect("tcp://127.0.0.1:9",
                                                                                          timeout_s=1):
            pass

    def test_an_address_distributed_cannot_parse_is_a_config_error(self):
        pytest.importorskip("distributed", reason="the cluster extra is not installed")

        with pytest.raises(ConfigError, match="--cluster nonsense: not a Dask scheduler address"), \
                connect("nonsense", timeout_s=1):
            pass
