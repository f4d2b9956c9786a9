"""The research page's findings: each of the seeds' questions answered on the given prices, with a verdict.

Every figure here comes from the same backtester, bootstrap, walk-forward and event study as the
commands (`backtest`, `backtest --sweep --train-to`, `signals`); this module only asks the questions
and words the answers. bot/research/page_html.py draws and writes the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from bot.commands.outputs import result_intervals
from bot.config import strategy_from
from bot.core.domain import Symbol, Vehicle
from bot.errors import ConfigError, DataError
from bot.research.backtest import BacktestResult, BacktestSettings, run_backtest
from bot.research.backtest.market import build_market
from bot.research.hindsight import (
    GateReport,
    RefitWalkForward,
    WalkForward,
    gate_report,
    rebalance_day_sensitivity,
    refit_walk_forward,
    walk_forward,
)
from bot.research.intervals import BootstrapSpec, Interval, Intervals
from bot.research.market_signals import Signals, compute_signals
from bot.research.metrics import DAYS_PER_YEAR
from bot.research.words import shown

SPREAD_GRID = (-0.10, -0.15, -0.20, -0.25, -0.30, -0.35, -0.40)
SEED_THRESHOLD = -0.30  # the research notes' gate
TREND_GRID = (1, 2, 3)
REFIT_YEARS = 3  # the gate's walk-forward refit: every 3 years, on all history before, the first on 5 years
REFIT_TRAIN_YEARS = 5
SEED_TREND = 3  # the technical case: all three signs up
DECADES = (("2000s", date(2000, 1, 1), date(2009, 12, 31)), ("2010s", date(2010, 1, 1), date(2019, 12, 31)),
           ("2020s", date(2020, 1, 1), None))


@dataclass(frozen=True)
class Run:
    """One backtest and its intervals."""

    title: str
    result: BacktestResult
    intervals: Intervals

    def figure(self, key: str) -> Interval | None:
        return self.intervals.figures.get(key)


@dataclass(frozen=True)
class GateStudy:
    name: str  # the parameter
    seed_value: object  # the notes' value, followed over the whole span
    seed_run: Run
    gate: GateReport
    walk: WalkForward
    cash_train: float  # cash's CAGR over the training span: what a flat book earned there
    cash_test: float
    refits: RefitWalkForward | None = None  # the choice made again every REFIT_YEARS on the history before
    cash_refits: float = float("nan")  # cash's CAGR over the refits' test spans, chained

    def value(self, v: object) -> str:
        """A grid value as the notes write it: -0.30, or 3."""
        number = float(str(v))
        return f"{number:.2f}" if self.name == "max_trailing_spread" else f"{number:.0f}"


@dataclass
class Findings:
    end: date  # the common last session of the pair's legs and the benchmarks
    pair: list[Run] = field(default_factory=list)  # whole span first, then each decade
    spread_gate: GateStudy | None = None
    trend_gate: GateStudy | None = None
    signals: Signals | None = None
    replica: Run | None = None
    replica_offsets: pd.DataFrame | None = None
    overlay: Run | None = None
    skipped: list[str] = field(default_factory=list)  # questions the data cannot answer, and why


def common_end(frames: Mapping[str, pd.DataFrame], symbols: tuple[str, ...]) -> date:
    present = [s for s in symbols if s in frames]
    if not present:
        raise DataError(f"none of {', '.join(symbols)} in the prices")
    ends: list[date] = [pd.Timestamp(frames[s].index[-1]).date() for s in present]
    return min(ends)


def find(frames: Mapping[str, pd.DataFrame], settings: BacktestSettings, spec: BootstrapSpec, *,
         train_to: date) -> Findings:
    """Every question the page asks, on the sessions the pair's legs and the benchmarks share."""
    end = common_end(frames, ("IWM", "QQQ", "SPY"))
    base = replace(settings, end=end if settings.end is None else min(settings.end, end))
    found = Findings(end=base.end or end)
    pair = strategy_from("pair", {})
    found.pair.append(_run("whole span", pair, frames, base, spec))
    first = pd.Timestamp(found.pair[0].result.metrics["start"]).date()
    for title, lo, hi in DECADES:
        start, stop = max(lo, first), min(hi or found.end, found.end)
        if (stop - start).days >= 365:  # a decade the data covers at least a year of
            found.pair.append(_run(title, pair, frames, replace(base, start=start, end=stop), spec))
    found.spread_gate = _gate(frames, base, spec, "max_trailing_spread", SPREAD_GRID, SEED_THRESHOLD, train_to)
    found.trend_gate = _gate(frames, base, spec, "min_trend_score", TREND_GRID, SEED_TREND, train_to)
    if {"NDX", "RUT"} <= set(frames) or {"QQQ", "IWM"} <= set(frames):
        found.signals = compute_signals(frames)
    _leveraged(found, frames, base, spec)
    return found


def _run(title: str, strategy: object, frames: Mapping[str, pd.DataFrame], settings: BacktestSettings,
         spec: BootstrapSpec) -> Run:
    result = run_backtest(strategy, frames, settings)  # type: ignore[arg-type]
    return Run(title, result, result_intervals(result, spec))


def _gate(frames: Mapping[str, pd.DataFrame], settings: BacktestSettings, spec: BootstrapSpec, name: str,
          grid: tuple[object, ...], seed_value: object, train_to: date) -> GateStudy:
    strategy = strategy_from("pair", {name: seed_value})
    run = _run(f"at {seed_value:.2f}" if isinstance(seed_value, float) else f"at {seed_value}", strategy, frames,
               settings, spec)
    walk = walk_forward(frames, "pair", {}, {name: list(grid)}, settings, train_to=train_to, sort_by="sharpe")
    spans = [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in (walk.train_span, walk.test_span)]
    cash = [cash_cagr(frames, settings, lo, hi) for lo, hi in spans]
    try:
        refits = refit_walk_forward(frames, "pair", {}, {name: list(grid)}, settings, refit_years=REFIT_YEARS,
                                    train_years=REFIT_TRAIN_YEARS, sort_by="sharpe")
    except ConfigError:  # a history too short for a first training span and a test span after it
        return GateStudy(name, seed_value, run, gate_report(run.result), walk, cash[0], cash[1])
    growth, years = 1.0, 0.0
    for refit in refits.refits:
        lo, hi = (date.fromisoformat(d) for d in refit.test_span)
        growth *= (1.0 + cash_cagr(frames, settings, lo, hi)) ** refit.years
        years += refit.years
    return GateStudy(name, seed_value, run, gate_report(run.result), walk, cash[0], cash[1], refits,
                     growth ** (1.0 / years) - 1.0)


def cash_cagr(frames: Mapping[str, pd.DataFrame], settings: BacktestSettings, start: date, end: date) -> float:
    """What cash earned a year over [start, end], as the backtest credits it (a rate, or the fund's returns)."""
    leg = Symbol("IWM")
    priced = build_market(frames, (leg,), {leg: Vehicle(leg, leg)}, start=start, end=end,
                          cash_rate=settings.cash_rate, cash_symbol=settings.cash_symbol, opens=False)
    years = (priced.dates[-1] - priced.dates[0]).days / DAYS_PER_YEAR
    return float(np.prod(1.0 + priced.market.cash_return) ** (1.0 / years) - 1.0)


def _leveraged(found: Findings, frames: Mapping[str, pd.DataFrame], settings: BacktestSettings,
               spec: BootstrapSpec) -> None:
    if "TNA" in frames:
        replica = strategy_from("replica", {})
        found.replica = _run("33% TNA + cash", replica, frames, settings, spec)
        found.replica_offsets = rebalance_day_sensitivity(replica, frames, settings)
    else:
        found.skipped.append("the replica needs TNA.csv")
    needed = ("SPY", "UPRO", "TNA", "SQQQ")
    missing = [s for s in needed if s not in frames]
    if missing:
        found.skipped.append(f"the overlay needs {', '.join(m + '.csv' for m in missing)}")
    else:
        found.overlay = _run("70% SPY, 10% UPRO, 10% TNA, 10% SQQQ", strategy_from("overlay", {}), frames,
                             settings, spec)


# -- verdicts, in words ------------------------------------------------------------------------------------


def pts(value: float) -> str:
    return "n/a" if value != value else f"{shown(value * 100, '+.1f')} pts"


def pct(value: float) -> str:
    return "n/a" if value != value else f"{shown(value * 100, '+.1f')} %"


def interval_words(iv: Interval, *, what: str, unit: str = "pts") -> str:
    """'+0.3 pts/yr (95 % interval -0.2 to +1.1): not distinguishable from zero'."""
    fmt = pts if unit == "pts" else pct
    if iv.low > 0:
        sign = "above zero even at the interval's low end"
    elif iv.high < 0:
        sign = "below zero even at the interval's high end"
    else:
        sign = "not distinguishable from zero"
    return f"{what} {fmt(iv.estimate)}/yr (95 % interval {fmt(iv.low)} to {fmt(iv.high)}): {sign}"


def pair_verdict(found: Findings) -> str:
    whole = found.pair[0]
    cash, spy = whole.figure("excess_cagr_vs_cash"), whole.figure("excess_cagr_vs_SPY")
    m = whole.result.metrics
    parts = [f"Long IWM / short QQQ, {m['start']} .. {m['end']}: CAGR {pct(float(m['cagr']))}"]  # type: ignore[arg-type]
    if cash is not None:
        parts.append(interval_words(cash, what="over cash"))
    if spy is not None:
        parts.append(interval_words(spy, what="against SPY"))
    decades = [f"{r.title} {pts(r.figure('excess_cagr_vs_cash').estimate)}"  # type: ignore[union-attr]
               for r in found.pair[1:] if r.figure("excess_cagr_vs_cash") is not None]
    worked = cash is not None and cash.low > 0
    head = "The thesis worked on this data" if worked else "The thesis did not work on this data"
    return f"{head}. " + "; ".join(parts) + (f". Over cash by decade: {', '.join(decades)}." if decades else ".")


def episodes_words(gate: GateReport) -> str:
    episodes = gate.episodes
    if len(episodes) <= 6:
        spans = ", ".join(f"{e.start[:7]} .. {e.end[:7]}" for e in episodes) or "none"
        return f"{len(episodes)} episodes ({spans})"
    gained = sum(e.strategy_return > 0 for e in episodes)
    median = float(np.median([e.strategy_return for e in episodes]))
    return f"{len(episodes)} episodes, {gained} of them gaining (median episode {pct(median)})"


def gate_verdict(study: GateStudy, *, label: str) -> str:
    run, gate, walk = study.seed_run, study.gate, study.walk
    cash = run.figure("excess_cagr_vs_cash")
    chosen = study.value(walk.chosen[study.name])
    text = (f"{label} at {study.value(study.seed_value)}, {run.result.metrics['start']} .. "
            f"{run.result.metrics['end']}: in the market {gate.time_in_market:.1%} of sessions in "
            f"{episodes_words(gate)}" + ("" if gate.in_market_t != gate.in_market_t else
                                         f"; in-market t = {gate.in_market_t:.2f}"))
    if cash is not None:
        text += "; " + interval_words(cash, what="over cash")
    over_train = float(walk.chosen_train["cagr"]) - study.cash_train
    over_test = float(walk.chosen_test["cagr"]) - study.cash_test
    text += (f". Chosen on {walk.train_span[0]} .. {walk.train_span[1]} by Sharpe, the best value was {chosen} "
             f"({pts(over_train)}/yr over cash there); after {walk.train_span[1]} it made {pts(over_test)}/yr over "
             f"cash, rank {walk.chosen_test_rank} of {len(walk.test)}")
    idle = [study.value(v) for v, turnover in zip(walk.train[study.name], walk.train["turnover"], strict=True)
            if turnover == 0]
    if idle:
        text += f"; in the training span {', '.join(sorted(idle, key=float))} never opened at all"
    if walk.chosen_test_rank > 1:
        best = float(walk.hindsight["cagr"]) - study.cash_test
        text += (f"; the best value out of sample, {study.value(walk.hindsight[study.name])} ({pts(best)}/yr), "
                 "is known only in hindsight")
    return text + "." + refit_words(study)


def refit_words(study: GateStudy) -> str:
    """' Refit every 3 years ...: the choices made -0.7 %/yr out of sample, the whole history's best ...'."""
    refits = study.refits
    if refits is None:
        return ""
    first, last = refits.refits[0].test_span[0], refits.refits[-1].test_span[1]
    chosen, fixed = refits.chained_cagr("chosen"), refits.chained_cagr("fixed")
    best = study.value(refits.whole.iloc[0][study.name])
    kept, count = sum(r.rank == 1 for r in refits.refits), len(refits.refits)
    return (f" Refit every {refits.refit_years} years on all history before ({count} choices, {first} .. {last}): "
            f"the choices made {pct(chosen)}/yr out of sample (cash {pct(study.cash_refits)}/yr on the same spans), "
            f"against {pct(fixed)}/yr for the whole history's best value ({best}); {kept} of {count} choices "
            f"{'was' if kept == 1 else 'were'} also the best of their span.")


def rotation_verdicts(sig: Signals) -> list[str]:
    if sig.events.empty:
        return ["none in this history, so nothing to test"]
    return [st.verdict for st in sig.studies]


def rotation_lead(sig: Signals) -> str:
    """Where the events fall: a handful of episodes, not many independent days."""
    years = sig.events.index.year.value_counts()
    if years.empty:
        return f"No rotation day (IWM ahead of QQQ by {sig.threshold * 100:.0f} points in a day) in this history."
    busiest = years.sort_values(ascending=False).head(2)
    held = int(busiest.sum())
    st = sig.studies[0]
    named = " and ".join(str(y) for y in sorted(busiest.index))
    return (f"{len(sig.events)} rotation days; {held} of them in {named}. "
            f"After them IWM beat QQQ by {pts(st.mean_excess)} over {st.horizon} sessions on average, against "
            f"{pts(st.baseline_mean)} after any session; but their windows overlap, leaving {st.independent} "
            "independent ones.")


def ratio_verdict(sig: Signals, seed_day: str) -> str:
    r = sig.ratio_now
    text = (f"{r.numerator}/{r.denominator} on {r.as_of}: {r.value:.2f}, {r.from_record:+.1%} from its record "
            f"{r.record:.2f} ({r.record_date})")
    day = pd.Timestamp(seed_day)
    if day in sig.ratio.index:
        value, before = float(sig.ratio.loc[day]), float(sig.ratio.loc[:day].max())
        later = sig.ratio.loc[day:]
        passed = later[later > value]
        standing = "a record then" if value >= before else f"below the record then ({before:.2f})"
        since = f", first passed on {passed.index[0].date()}" if len(passed) else ", not passed since"
        text += f"; the notes' {value:.2f} on {seed_day} was {standing}{since}"
    return text + "."


def leveraged_verdict(run: Run, *, benchmark: str, what: str) -> str:
    m = run.result.metrics
    iv = run.figure(f"excess_cagr_vs_{benchmark}")
    text = f"{what}, {m['start']} .. {m['end']}: CAGR {pct(float(m['cagr']))}"  # type: ignore[arg-type]
    if iv is None:
        return text + f"; {benchmark} does not cover the span, so no comparison."
    bench = m["benchmarks"][benchmark]["cagr"]  # type: ignore[index]
    return text + f" against {benchmark}'s {pct(float(bench))}; " + interval_words(iv, what=f"over {benchmark}") + "."


def offsets_verdict(table: pd.DataFrame) -> str:
    cagr = table["cagr"]
    rank = int((cagr > cagr.iloc[0]).sum()) + 1
    return (f"Rebalanced on the k-th session of each quarter (k = 0..{len(table) - 1}), the replica's CAGR runs "
            f"from {pct(float(cagr.min()))} to {pct(float(cagr.max()))} (median {pct(float(cagr.median()))}); "
            f"the default first session ranks {rank} of {len(table)}.")
