"""The research tests read the real price folder through the backtest tests' fixtures (skipped without it)."""

from tests.backtest.conftest import REAL_PRICES, real_prices, real_prices_dir

__all__ = ["REAL_PRICES", "real_prices", "real_prices_dir"]
