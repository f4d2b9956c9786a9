"""Shared fixtures for the backtest tests: the real price folder when present, else a skip."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from bot.adapters.history.frame import load_csv_dir, synthetic_history
from bot.adapters.history.splits import splits_beside
from bot.core.corporate import Split

REAL_PRICES = Path(__file__).resolve().parents[3] / "shared" / "data" / "prices"  # ../shared beside the repo
SYNTHETIC_SYMBOLS = ("SPY", "QQQ", "IWM", "PSQ", "SQQQ", "TNA", "UPRO", "BIL")


@pytest.fixture(scope="session")
def synthetic() -> dict[str, pd.DataFrame]:
    return synthetic_history(SYNTHETIC_SYMBOLS, start=date(2015, 1, 1), end=date(2024, 12, 31))


@pytest.fixture(scope="session")
def real_prices() -> dict[str, pd.DataFrame]:
    if not (REAL_PRICES / "IWM.csv").is_file():
        pytest.skip(f"real price data not present at {REAL_PRICES}")
    return load_csv_dir(REAL_PRICES)


@pytest.fixture(scope="session")
def real_prices_dir(real_prices: dict[str, pd.DataFrame]) -> Path:
    return REAL_PRICES


@pytest.fixture(scope="session")
def real_splits(real_prices: dict[str, pd.DataFrame]) -> tuple[Split, ...]:
    splits = splits_beside(REAL_PRICES)
    if splits is None:
        pytest.skip(f"no splits.csv beside the real prices at {REAL_PRICES}")
    return splits
