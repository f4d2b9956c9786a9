"""Performance measures of equity curves: one curve (a 1-D array) or many at once (rows of a 2-D array).

Conventions: 252 sessions a year for annualising daily returns; calendar years (365.25 days) for
CAGR; Sharpe and Sortino on returns in excess of the cash return when one is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
SESSIONS_PER_YEAR = 252
DAYS_PER_YEAR = 365.25


def daily_returns(equity: FloatArray) -> FloatArray:
    """Simple returns session to session, along the last axis (one fewer column)."""
    e = np.asarray(equity, dtype=np.float64)
    return e[..., 1:] / e[..., :-1] - 1.0


def cagr(equity: FloatArray, years: float) -> FloatArray:
    """Compound annual growth from the first to the last value; -1 when the curve ends at or below zero."""
    e = np.asarray(equity, dtype=np.float64)
    if years <= 0:
        raise ValueError(f"years must be positive, got {years}")
    ratio = e[..., -1] / e[..., 0]
    with np.errstate(invalid="ignore"):
        return np.where(ratio > 0, np.power(np.maximum(ratio, 1e-300), 1.0 / years) - 1.0, -1.0)


def volatility(returns: FloatArray) -> FloatArray:
    """Annualised standard deviation of daily returns (sample, ddof=1)."""
    return np.asarray(np.std(returns, axis=-1, ddof=1) * np.sqrt(SESSIONS_PER_YEAR))


def sharpe(returns: FloatArray, cash_returns: FloatArray | None = None) -> FloatArray:
    """Annualised mean excess return over its standard deviation; nan for a flat curve."""
    excess = _excess(returns, cash_returns)
    sd = np.std(excess, axis=-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(sd > 0, excess.mean(axis=-1) / sd * np.sqrt(SESSIONS_PER_YEAR), np.nan))


def sortino(returns: FloatArray, cash_returns: FloatArray | None = None) -> FloatArray:
    """Annualised mean excess return over the downside deviation (root mean square of losses)."""
    excess = _excess(returns, cash_returns)
    downside = np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2, axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(
            np.where(downside > 0, excess.mean(axis=-1) / downside * np.sqrt(SESSIONS_PER_YEAR), np.nan)
        )


def _excess(returns: FloatArray, cash_returns: FloatArray | None) -> FloatArray:
    r = np.asarray(returns, dtype=np.float64)
    return r if cash_returns is None else r - np.asarray(cash_returns, dtype=np.float64)


def max_drawdown(equity: FloatArray) -> FloatArray:
    """Largest fall from a running peak, as a negative fraction (0 for a curve that never falls)."""
    e = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(e, axis=-1)
    return np.asarray((e / peak - 1.0).min(axis=-1))


@dataclass(frozen=True, slots=True)
class Drawdown:
    depth: float  # negative fraction
    peak: int  # index of the peak before the deepest point
    trough: int
    recovery: int | None  # first index back at the peak, None if never


def worst_drawdown(equity: FloatArray) -> Drawdown:
    """The deepest drawdown of one curve with where it started, bottomed and recovered."""
    e = np.asarray(equity, dtype=np.float64)
    peak_value = np.maximum.accumulate(e)
    dd = e / peak_value - 1.0
    trough = int(np.argmin(dd))
    peak = int(np.argmax(e[: trough + 1])) if trough > 0 else 0
    after = np.flatnonzero(e[trough:] >= e[peak])
    recovery = int(trough + after[0]) if dd[trough] < 0 and after.size else None
    return Drawdown(float(dd[trough]), peak, trough, recovery)


def annual_turnover(traded_usd: FloatArray, average_equity: FloatArray, years: float) -> FloatArray:
    """Traded notional (buys plus sells) per year as a multiple of average equity."""
    return np.asarray(np.asarray(traded_usd) / np.asarray(average_equity) / years)
