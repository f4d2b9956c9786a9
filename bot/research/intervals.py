"""Block-bootstrap confidence intervals on a backtest's headline figures.

Daily returns of the strategy, its benchmarks and cash are resampled together (the same sessions in
every series, so an excess is paired) with the stationary bootstrap of Politis and Romano, drawn as
arch's StationaryBootstrap draws it (stationary_indices): blocks of random length with a stated mean keep
volatility clustering and the quarterly rebalance rhythm inside a block. Intervals are percentile
intervals of the resamples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bot.research.metrics import SESSIONS_PER_YEAR

FloatArray = npt.NDArray[np.float64]
DEFAULT_BLOCK_SESSIONS = 63  # mean block length: a quarter of sessions, the pair's rebalance rhythm
DEFAULT_SEED = 12
CHUNK = 125  # resamples per pass: bounds memory at a few tens of MB for 25 years of sessions


@dataclass(frozen=True, slots=True)
class BootstrapSpec:
    resamples: int = 1000
    block_sessions: int = DEFAULT_BLOCK_SESSIONS
    seed: int = DEFAULT_SEED
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.resamples < 100:
            raise ValueError(f"a bootstrap needs at least 100 resamples, got {self.resamples}")
        if self.block_sessions < 1:
            raise ValueError(f"the mean block length must be at least 1 session, got {self.block_sessions}")
        if not 0.5 <= self.confidence < 1:
            raise ValueError(f"confidence must be in [0.5, 1), got {self.confidence}")

    @property
    def method(self) -> str:
        return "stationary block bootstrap (Politis-Romano, drawn as arch's StationaryBootstrap), percentile intervals"

    def doc(self) -> dict[str, object]:
        return {"method": self.method, "resamples": self.resamples, "mean_block_sessions": self.block_sessions,
                "seed": self.seed, "confidence": self.confidence}


@dataclass(frozen=True, slots=True)
class Interval:
    estimate: float  # the figure on the actual path
    low: float
    high: float
    share_positive: float  # share of resamples above zero

    def doc(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "share_positive": self.share_positive}

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class Intervals:
    spec: BootstrapSpec
    sessions: int
    figures: dict[str, Interval] = field(default_factory=dict)  # cagr, sharpe, max_drawdown, excess_cagr_vs_<X>

    def doc(self) -> dict[str, object]:
        return {**self.spec.doc(), "sessions": self.sessions, **{k: v.doc() for k, v in self.figures.items()}}


def bootstrap_intervals(
    equity: FloatArray,
    *,
    years: float,
    cash_return: FloatArray,
    benchmarks: Mapping[str, FloatArray],
    spec: BootstrapSpec,
) -> Intervals:
    """Intervals for CAGR, Sharpe (over cash), max drawdown and the CAGR in excess of cash and of each benchmark.

    `equity` and each benchmark are curves on the same sessions; `cash_return` is cash's return into each
    session (its first entry is ignored). CAGR is over `years` calendar years, as the point estimate is.
    """
    curves = {"strategy": np.asarray(equity, dtype=np.float64), **{k: np.asarray(v, dtype=np.float64)
                                                                    for k, v in benchmarks.items()}}
    logs = {k: _log_returns(v) for k, v in curves.items()}
    cash = np.asarray(cash_return, dtype=np.float64)[1:]
    logs["cash"] = np.log1p(cash)
    daily = curves["strategy"][1:] / curves["strategy"][:-1] - 1.0
    excess = daily - cash
    actual = _figures(logs, excess[None, :], years)
    draws = _resampled(logs, excess, years, spec)
    tail = (1.0 - spec.confidence) / 2 * 100
    figures = {}
    for key, values in draws.items():
        low, high = np.nanpercentile(values, [tail, 100 - tail])
        figures[key] = Interval(float(actual[key][0]), float(low), float(high), float(np.mean(values > 0)))
    return Intervals(spec, len(daily) + 1, figures)


def _log_returns(curve: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = curve[1:] / curve[:-1]
        return np.where(ratio > 0, np.log(np.maximum(ratio, 1e-300)), -np.inf)


def stationary_indices(rng: np.random.Generator, n: int, block_sessions: float) -> npt.NDArray[np.int64]:
    """One stationary-bootstrap resample of n sessions (Politis and Romano, 1994): each session starts a new
    block with probability 1 / block_sessions, at a uniform random session; otherwise it takes the session after
    the one before it, wrapping past the last to the first.

    The draws are arch's StationaryBootstrap(block_sessions, x, seed=...).update_indices() draws (its
    integers, then its uniforms, from the same numpy Generator, and the same rule: u > p continues a
    block), so the resamples are arch's index for index (a test holds them equal) without importing arch,
    which costs over a second (it loads its volatility models and scipy) on every backtest."""
    starts = rng.integers(n, size=n, dtype=np.int64)
    u = rng.random(n)
    new = u <= 1.0 / block_sessions
    new[0] = True
    first = np.flatnonzero(new)  # where each block starts
    block = np.cumsum(new) - 1
    offset = np.arange(n, dtype=np.int64) - first[block]
    out: npt.NDArray[np.int64] = (starts[first][block] + offset) % n
    return out


def _resampled(logs: Mapping[str, FloatArray], excess: FloatArray, years: float,
               spec: BootstrapSpec) -> dict[str, FloatArray]:
    rng = np.random.default_rng(int(spec.seed))
    n = len(excess)
    parts: dict[str, list[FloatArray]] = {}
    for lo in range(0, spec.resamples, CHUNK):
        index = np.stack([stationary_indices(rng, n, spec.block_sessions)
                          for _ in range(min(CHUNK, spec.resamples - lo))])
        sampled = {k: v[index] for k, v in logs.items()}
        for key, values in _figures(sampled, excess[index], years).items():
            parts.setdefault(key, []).append(values)
    return {k: np.concatenate(v) for k, v in parts.items()}


def _figures(logs: Mapping[str, FloatArray], excess: FloatArray, years: float) -> dict[str, FloatArray]:
    """Each figure for each row of resampled (rows x sessions) log returns."""
    def growth(x: FloatArray) -> FloatArray:
        return np.asarray(np.expm1(np.atleast_2d(x).sum(axis=-1) / years))

    strategy = np.atleast_2d(logs["strategy"])
    path = np.cumsum(strategy, axis=-1)
    peak = np.maximum.accumulate(np.maximum(path, 0.0), axis=-1)  # the curve starts at its first value
    sd = excess.std(axis=-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(sd > 0, excess.mean(axis=-1) / sd * np.sqrt(SESSIONS_PER_YEAR), np.nan)
    cagr = growth(strategy)
    out = {"cagr": cagr, "sharpe": sharpe, "max_drawdown": np.expm1((path - peak).min(axis=-1)),
           "excess_cagr_vs_cash": cagr - growth(logs["cash"])}
    for key, values in logs.items():
        if key not in ("strategy", "cash"):
            out[f"excess_cagr_vs_{key}"] = cagr - growth(values)
    return out
