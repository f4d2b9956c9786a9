"""What hindsight did to a result: walk-forward choice of a sweep's parameter, the rebalance day, a gate's episodes.

- walk_forward: choose the parameter on a training span by the sort metric, then show its result on the
  span after it beside the training best and the test span's own best (the hindsight pick).
- refit_walk_forward: the same choice made again every few years, each time on the history before
  (anchored: all of it; rolling: the last few years), and its test spans chained into one out-of-sample
  record beside the whole history's best followed over the same spans.
- rebalance_day_sensitivity: the same strategy rebalanced on the k-th session of each period, k = 0..20.
- gate_report: how long a gated strategy was in the market, in how many episodes, and what each made.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd

from bot.config import strategy_from
from bot.errors import ConfigError, DataError
from bot.research.backtest.engine import (
    BacktestResult,
    BacktestSettings,
    first_decidable,
    target_path,
    variant_metrics,
    variants_from,
)
from bot.research.backtest.grid import grid_rows
from bot.research.backtest.kernel import run_kernel
from bot.research.backtest.market import build_market, common_sessions, due_sessions
from bot.research.backtest.sweep import SETTING_NAMES as SWEEP_SETTINGS
from bot.research.backtest.sweep import Progress, expand, run_sweep
from bot.research.metrics import DAYS_PER_YEAR, SESSIONS_PER_YEAR
from strategies.base import Strategy

EPISODE_GAP = 21  # flat sessions that end an episode: a month out of the market

# -- walk-forward --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WalkForward:
    keys: tuple[str, ...]  # the grid's parameters
    sort_by: str
    train: pd.DataFrame  # the sweep on the training span, best first
    test: pd.DataFrame  # the same grid on the test span, best first
    chosen: dict[str, object]  # the training best's parameters
    chosen_test: pd.Series  # its row on the test span
    chosen_test_rank: int  # 1 = it was also the best out of sample
    train_span: tuple[str, str]
    test_span: tuple[str, str]

    @property
    def chosen_train(self) -> pd.Series:
        return self.train.iloc[0]

    @property
    def hindsight(self) -> pd.Series:
        """The test span's best: what choosing on the whole history would have looked like there."""
        return self.test.iloc[0]

    def doc(self) -> dict[str, object]:
        def row(r: pd.Series) -> dict[str, object]:
            return {str(k): _plain(v) for k, v in r.items()}

        return {"sort_by": self.sort_by, "train": {"start": self.train_span[0], "end": self.train_span[1]},
                "test": {"start": self.test_span[0], "end": self.test_span[1]},
                "chosen": {k: _plain(v) for k, v in self.chosen.items()},
                "chosen_in_sample": row(self.chosen_train), "chosen_out_of_sample": row(self.chosen_test),
                "chosen_out_of_sample_rank": self.chosen_test_rank, "variants": len(self.test),
                "best_out_of_sample": row(self.hindsight)}


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def walk_forward(
    frames: Mapping[str, pd.DataFrame], name: str, params: Mapping[str, object], grid: Mapping[str, Sequence[object]],
    settings: BacktestSettings, *, train_to: date, sort_by: str = "sharpe", progress: Progress | None = None,
    cluster: str | None = None,
) -> WalkForward:
    """The grid swept on [start, train_to] and on (train_to, end]; the training best followed out of sample."""
    if settings.end is not None and settings.end <= train_to:
        raise ConfigError(f"--train-to {train_to} leaves no test span before --to {settings.end}")
    start = sweep_start(frames, name, params, grid, settings.start)
    if start is not None and start >= train_to:
        raise ConfigError(f"--train-to {train_to} leaves no training span after the first session {start}")
    train = run_sweep(frames, name, params, grid, replace(settings, start=start, end=train_to), sort_by=sort_by,
                      progress=progress, cluster=cluster)
    test = run_sweep(frames, name, params, grid, replace(settings, start=train_to + timedelta(days=1)),
                     sort_by=sort_by, progress=progress, cluster=cluster)
    keys = tuple(grid)
    chosen = {k: train.iloc[0][k] for k in keys}
    labels = _row_keys(test, keys)
    rank = labels.index(_row_keys(train.iloc[[0]], keys)[0])
    return WalkForward(keys, sort_by, train, test, chosen, test.iloc[rank], rank + 1,
                       (train.attrs["start"], train.attrs["end"]), (test.attrs["start"], test.attrs["end"]))


def _row_keys(table: pd.DataFrame, keys: Sequence[str]) -> list[tuple[str, ...]]:
    return [tuple(repr(_plain(v)) for v in row) for row in table[list(keys)].itertuples(index=False)]


def sweep_start(frames: Mapping[str, pd.DataFrame], name: str, params: Mapping[str, object],
                grid: Mapping[str, Sequence[object]], start: date | None) -> date | None:
    """The first session every variant of the grid can decide on (a gate reads history before it)."""
    latest = start
    for combo in expand(grid):
        strategy_params = {**params, **{k: v for k, v in combo.items() if k not in SWEEP_SETTINGS}}
        try:
            strategy = strategy_from(name, strategy_params)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        moved, _ = first_decidable(strategy, frames, start)
        if moved is not None and (latest is None or moved > latest):
            latest = moved
    return latest


# -- walk-forward, refit every few years ---------------------------------------------------------------------

WINDOWS = ("anchored", "rolling")
MIN_TEST_DAYS = 31  # calendar days: a shorter last test span joins the one before it


@dataclass(frozen=True)
class Refit:
    """One choice: made on its training span, followed over its test span (which starts flat)."""

    train_span: tuple[str, str]
    test_span: tuple[str, str]
    chosen: dict[str, object]  # the training best's parameters
    chosen_train: pd.Series  # its row on the training span (the figures it was chosen by)
    chosen_test: pd.Series  # its row on the test span
    rank: int  # of the chosen among the variants on the test span (1 = also the best there)
    hindsight_test: pd.Series  # the test span's own best
    fixed_test: pd.Series  # the whole history's best, on this test span
    variants: int

    @property
    def years(self) -> float:
        first, last = (date.fromisoformat(d) for d in self.test_span)
        return (last - first).days / DAYS_PER_YEAR


@dataclass(frozen=True)
class RefitWalkForward:
    keys: tuple[str, ...]
    sort_by: str
    window: str  # anchored | rolling
    refit_years: int
    train_years: int
    whole: pd.DataFrame  # the sweep over the whole history, best first: its best is the hindsight choice
    refits: tuple[Refit, ...]

    def chained_cagr(self, which: str) -> float:
        """Annual growth over the test spans chained end to end: "chosen" (the refit choices, the honest figure),
        "fixed" (the whole history's best on the same spans) or "hindsight" (each span's own best by the sort
        metric, known only afterwards; by that metric, not necessarily by growth)."""
        growth = 1.0
        for refit in self.refits:
            growth *= 1.0 + float(getattr(refit, f"{which}_test")["total_return"])
        years = sum(r.years for r in self.refits)
        return growth ** (1.0 / years) - 1.0 if years > 0 and growth > 0 else float("nan")

    @property
    def table(self) -> pd.DataFrame:
        """One row per refit: spans, the chosen parameters, its test return and rank, the other two on that span."""
        return pd.DataFrame([{"train_start": r.train_span[0], "train_end": r.train_span[1],
                              "test_start": r.test_span[0], "test_end": r.test_span[1],
                              **{k: _plain(v) for k, v in r.chosen.items()},
                              "train_cagr": float(r.chosen_train["cagr"]),
                              "train_sharpe": _plain(r.chosen_train["sharpe"]),
                              "test_cagr": float(r.chosen_test["cagr"]),
                              "test_return": float(r.chosen_test["total_return"]),
                              "test_rank": r.rank, "variants": r.variants,
                              "fixed_return": float(r.fixed_test["total_return"]),
                              "hindsight_return": float(r.hindsight_test["total_return"])} for r in self.refits])


@dataclass(frozen=True, slots=True)
class RefitPlan:
    """Where a refit walk-forward chooses and tests: each span (refit day, test end), all within [start, last]."""

    start: date | None  # the sweep's first decidable session (sweep_start)
    first: date
    last: date
    spans: tuple[tuple[date, date], ...]


def refit_plan(
    frames: Mapping[str, pd.DataFrame], name: str, params: Mapping[str, object], grid: Mapping[str, Sequence[object]],
    settings: BacktestSettings, *, refit_years: int, train_years: int,
) -> RefitPlan:
    """Refit days every `refit_years` from `train_years` after the first session, each followed to the next (the
    last to the last session; a last span under a month joins the one before). Cheap: no variant runs."""
    if refit_years < 1 or train_years < 1:
        raise ConfigError("refits and the first training span are whole years, at least 1")
    start = sweep_start(frames, name, params, grid, settings.start)
    first, last = _sweep_span(frames, name, params, grid, replace(settings, start=start))
    days = [_years_after(first, train_years)]
    while days[-1] < last:
        days.append(min(_years_after(days[-1], refit_years), last))
    if len(days) > 2 and (days[-1] - days[-2]).days < MIN_TEST_DAYS:
        del days[-2]  # a last span of a few days joins the one before it
    if len(days) < 2 or (last - days[0]).days < MIN_TEST_DAYS:
        raise ConfigError(f"{train_years} training years from {first} leave no test span of a month before {last}")
    return RefitPlan(start, first, last, tuple(itertools.pairwise(days)))


def refit_walk_forward(
    frames: Mapping[str, pd.DataFrame], name: str, params: Mapping[str, object], grid: Mapping[str, Sequence[object]],
    settings: BacktestSettings, *, refit_years: int, train_years: int, window: str = "anchored",
    sort_by: str = "sharpe", progress: Progress | None = None, cluster: str | None = None,
    plan: RefitPlan | None = None,
) -> RefitWalkForward:
    """At each refit day of refit_plan: choose the grid's best by `sort_by` on the sessions up to that day (all of
    them, or the last `train_years` years when rolling) and follow it over its span; the whole history's best is
    followed over the same spans. Nothing after a refit's day takes part in its choice. `plan` is refit_plan's,
    when the caller has made it already."""
    if window not in WINDOWS:
        raise ConfigError(f"window {window!r}: choose anchored or rolling")
    if plan is None:
        plan = refit_plan(frames, name, params, grid, settings, refit_years=refit_years, train_years=train_years)
    sweeps = 1 + 2 * len(plan.spans)
    whole = run_sweep(frames, name, params, grid, replace(settings, start=plan.start), sort_by=sort_by,
                      progress=_part(progress, 0, sweeps), cluster=cluster)
    keys = tuple(grid)
    fixed_key = _row_keys(whole.iloc[[0]], keys)[0]
    refits: list[Refit] = []
    for i, (day, test_end) in enumerate(plan.spans):
        train_from = plan.first if window == "anchored" else max(plan.first, _years_after(day, -train_years))
        train = run_sweep(frames, name, params, grid, replace(settings, start=train_from, end=day),
                          sort_by=sort_by, progress=_part(progress, 1 + 2 * i, sweeps), cluster=cluster)
        test = run_sweep(frames, name, params, grid, replace(settings, start=day + timedelta(days=1), end=test_end),
                         sort_by=sort_by, progress=_part(progress, 2 + 2 * i, sweeps), cluster=cluster)
        labels = _row_keys(test, keys)
        rank = labels.index(_row_keys(train.iloc[[0]], keys)[0])
        best = train.iloc[0]
        refits.append(Refit((train.attrs["start"], train.attrs["end"]), (test.attrs["start"], test.attrs["end"]),
                            {key: best[key] for key in keys}, best, test.iloc[rank], rank + 1, test.iloc[0],
                            test.iloc[labels.index(fixed_key)], len(test)))
    return RefitWalkForward(keys, sort_by, window, refit_years, train_years, whole, tuple(refits))


def _sweep_span(frames: Mapping[str, pd.DataFrame], name: str, params: Mapping[str, object],
                grid: Mapping[str, Sequence[object]], settings: BacktestSettings) -> tuple[date, date]:
    """The first and last session a sweep of the grid would cover (run_sweep's own common sessions)."""
    rows = grid_rows(grid, settings, name, params)
    symbols = sorted(set().union(*(s.universe for s in rows.strategies)))
    dates, _ = common_sessions(frames, symbols, settings.start, settings.end)
    return dates[0].date(), dates[-1].date()


def _part(progress: Progress | None, k: int, parts: int) -> Progress | None:
    """Sweep k of `parts` equal sweeps reported as one run of them all."""
    if progress is None:
        return None
    report = progress

    def part(done: int, total: int) -> None:
        report(k * total + done, parts * total)

    return part


def _years_after(day: date, years: int) -> date:
    """The same calendar day `years` later (or earlier); 29 February becomes the 28th in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


# -- the rebalance day ---------------------------------------------------------------------------------------


def shifted_due(base: np.ndarray, offset: int) -> np.ndarray:
    """Rebalance on the offset-th session of each calendar period instead of its first (the first session of
    all still builds the book); a period shorter than that is skipped."""
    starts = np.flatnonzero(base)
    ends = np.append(starts[1:], len(base))
    due = np.zeros_like(base)
    due[0] = True
    for lo, hi in zip(starts[1:], ends[1:], strict=True):
        if lo + offset < hi:
            due[lo + offset] = True
    return due


def rebalance_day_sensitivity(strategy: Strategy, frames: Mapping[str, pd.DataFrame], settings: BacktestSettings,
                              *, offsets: int = 21) -> pd.DataFrame:
    """One row per offset 0..offsets-1 (sessions after the period's first): CAGR, Sharpe, max drawdown, ..."""
    if settings.frequency == "none":
        raise ConfigError("rebalance-day sensitivity needs a calendar frequency")
    start, _ = first_decidable(strategy, frames, settings.start)
    priced = build_market(frames, tuple(sorted(strategy.universe)), strategy.vehicles, start=start,
                          end=settings.end, cash_rate=settings.cash_rate, cash_symbol=settings.cash_symbol,
                          opens=settings.fill == "next_open", splits=settings.splits)
    targets = target_path(strategy, frames, priced)
    base = due_sessions(priced.dates, settings.frequency)
    due = np.stack([shifted_due(base, k) for k in range(offsets)])
    variants = variants_from([settings] * offsets, targets[None], np.zeros(offsets, dtype=np.intp), due,
                             np.arange(offsets, dtype=np.intp))
    found = variant_metrics(run_kernel(priced.market, variants, fill=settings.fill), priced.dates,
                      priced.market.cash_return)
    table = pd.DataFrame({"offset": np.arange(offsets), **found})
    table.attrs["start"], table.attrs["end"] = str(priced.dates[0].date()), str(priced.dates[-1].date())
    return table


# -- a gate's time in the market -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Episode:
    start: str  # first close holding the book
    end: str  # the close it was flat again (or the last session)
    sessions: int
    strategy_return: float


@dataclass(frozen=True, slots=True)
class GateReport:
    sessions: int
    in_market_sessions: int
    episodes: tuple[Episode, ...]
    in_market_mean: float  # mean daily return while holding
    in_market_t: float  # its t-statistic, as if days were independent

    @property
    def time_in_market(self) -> float:
        return self.in_market_sessions / self.sessions if self.sessions else 0.0

    def doc(self) -> dict[str, object]:
        return {"sessions": self.sessions, "in_market_sessions": self.in_market_sessions,
                "time_in_market": self.time_in_market, "episode_count": len(self.episodes),
                "in_market_mean_daily": self.in_market_mean, "in_market_t": _plain(self.in_market_t),
                "in_market_annualised": self.in_market_mean * SESSIONS_PER_YEAR,
                "episodes": [dataclasses.asdict(e) for e in self.episodes]}


def gate_report(result: BacktestResult, *, gap: int = EPISODE_GAP) -> GateReport:
    """Episodes of holding: runs of closes with gross exposure, merged across gaps of up to `gap` flat sessions.

    A session's return belongs to the book held at the close before it."""
    gross = result.exposure["gross"].to_numpy()
    equity = result.equity.to_numpy()
    dates = result.equity.index
    held = gross[:-1] > 1e-9
    if len(equity) < 2:
        raise DataError("a gate report needs at least two sessions")
    daily = equity[1:] / equity[:-1] - 1.0
    runs = _runs(held, gap)
    episodes = tuple(Episode(str(dates[a].date()), str(dates[b + 1].date()), b - a + 1,
                             float(equity[b + 1] / equity[a] - 1.0)) for a, b in runs)
    inside = daily[held]
    sd = float(np.std(inside, ddof=1)) if len(inside) > 1 else 0.0
    t = float(np.mean(inside) / sd * np.sqrt(len(inside))) if sd > 0 else float("nan")
    return GateReport(len(equity), int(held.sum()), episodes, float(np.mean(inside)) if len(inside) else 0.0, t)


def _runs(flags: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """(first, last) index of each run of True, runs closer than gap + 1 merged."""
    where = np.flatnonzero(flags)
    if not len(where):
        return []
    breaks = np.flatnonzero(np.diff(where) > gap + 1)
    firsts = np.concatenate(([where[0]], where[breaks + 1]))
    lasts = np.concatenate((where[breaks], [where[-1]]))
    return list(zip(firsts.tolist(), lasts.tolist(), strict=True))
