"""Backtests and parameter sweeps of the strategies over price history, with a simulated broker."""

from bot.research.backtest.engine import BacktestResult, BacktestSettings, run_backtest
from bot.research.backtest.kernel import Market, Variants, run_kernel

__all__ = ["BacktestResult", "BacktestSettings", "Market", "Variants", "run_backtest", "run_kernel"]
