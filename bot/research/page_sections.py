"""The research page's sections: each question, its verdict, a table and a chart (bot/research/findings.py answers)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bot.commands.outputs import settings_doc
from bot.research import findings as fd
from bot.research import page_html as rh
from bot.research.intervals import BootstrapSpec, Interval
from bot.research.words import shown

SEED_RATIO_DAY = "2024-07-09"  # the notes' NDX/RUT figure (10.08)


def render_page(found: fd.Findings, *, source: Mapping[str, object], label: str, spec: BootstrapSpec,
                warnings: tuple[str, ...] = ()) -> str:
    verdicts = [fd.pair_verdict(found)]
    sections = [_pair_section(found, spec)]
    for study, label_text, axis in ((found.spread_gate, "The trailing-spread gate", "max_trailing_spread"),
                                    (found.trend_gate, "The trend gate (50-week average, MACD, RSI)",
                                     "min_trend_score")):
        if study is not None:
            verdicts.append(fd.gate_verdict(study, label=label_text))
            spread = found.signals.spread if found.signals is not None and axis == "max_trailing_spread" else None
            sections.append(_gate_section(study, label_text, axis, spread))
    if found.signals is not None:
        verdicts += [f"Rotation days, {v}" for v in fd.rotation_verdicts(found.signals)]
        sections += [_rotation_section(found), _ratio_section(found)]
        verdicts.append(fd.ratio_verdict(found.signals, SEED_RATIO_DAY))
    if found.replica is not None:
        verdicts.append(fd.leveraged_verdict(found.replica, benchmark="IWM", what="The 33 % TNA replica"))
        if found.replica_offsets is not None:
            verdicts.append(fd.offsets_verdict(found.replica_offsets))
        sections.append(_replica_section(found))
    if found.overlay is not None:
        verdicts.append(fd.leveraged_verdict(found.overlay, benchmark="SPY", what="The S&P overlay"))
        sections.append(_overlay_section(found))
    verdicts += [f"Not answered: {s}." for s in found.skipped]
    verdicts += [f"Warning: {w}." for w in warnings]
    sections.append(_data_section(found, source, label, spec, warnings))
    return rh.page(title="Does long IWM / short QQQ work? pairbot research", verdicts=verdicts, sections=sections,
                   source_line=f"prices: {label} · sha256 {str(source.get('sha256', '-'))[:16]}… · common end "
                               f"{found.end}")


def _n(value: object, fmt: str) -> str:
    """A number in a table cell; '-' where there is none (a flat book has no Sharpe)."""
    number = float(str(value))
    return "-" if number != number else format(number, fmt)


def _ci(iv: Interval | None, *, unit: str = "pts") -> str:
    if iv is None:
        return "-"
    if unit == "sharpe":
        return f"{shown(iv.estimate, '+.2f')} [{shown(iv.low, '+.2f')}, {shown(iv.high, '+.2f')}]"
    return f"{shown(iv.estimate * 100, '+.1f')} [{shown(iv.low * 100, '+.1f')}, {shown(iv.high * 100, '+.1f')}]"


def _run_rows(runs: list[fd.Run], benchmark: str) -> list[list[str]]:
    rows = []
    for run in runs:
        m = run.result.metrics
        rows.append([run.title, f"{m['start']} .. {m['end']}", _ci(run.figure("cagr")),
                     _ci(run.figure("excess_cagr_vs_cash")), _ci(run.figure(f"excess_cagr_vs_{benchmark}")),
                     _ci(run.figure("sharpe"), unit="sharpe"), _ci(run.figure("max_drawdown"))])
    return rows


def _run_table(runs: list[fd.Run], benchmark: str, css_id: str) -> str:
    columns = ["span", "dates", "CAGR %", "over cash, pts/yr", f"over {benchmark}, pts/yr", "Sharpe",
               "max drawdown %"]
    return rh.table(columns, _run_rows(runs, benchmark), css_id) + rh.para(
        "Each cell: the figure on the actual path, then its 95 % block-bootstrap interval in brackets.", "small")


def _curves(run: fd.Run, *, benchmarks: tuple[str, ...]) -> dict[str, pd.Series]:
    result = run.result
    curves = {result.strategy: result.equity}
    if result.arrays.cash_return is not None:
        cash = np.cumprod(1.0 + result.arrays.cash_return) * float(result.equity.iloc[0])
        curves["cash"] = pd.Series(cash, index=result.equity.index)
    for sym in benchmarks:
        if sym in result.benchmarks.columns:
            curves[f"{sym} buy and hold"] = result.benchmarks[sym]
    return curves


def _pair_section(found: fd.Findings, spec: BootstrapSpec) -> str:
    whole = found.pair[0]
    rows = [(r.title, r.figure("excess_cagr_vs_cash"), r.figure("excess_cagr_vs_SPY")) for r in found.pair]
    return rh.section(
        "The pair against cash and SPY, by decade", "pair",
        rh.para(fd.pair_verdict(found)),
        _run_table(found.pair, "SPY", "pair-table"),
        rh.img(rh.forest_chart(rows, ("over cash", "over SPY")), "excess over cash and SPY with intervals"),
        rh.img(rh.curves_chart(_curves(whole, benchmarks=("SPY", "IWM")), "long IWM / short QQQ, equal dollars, "
               "quarterly"), "pair equity against cash and buy and hold"),
    )


def _gate_section(study: fd.GateStudy, title: str, axis: str, spread: pd.Series | None) -> str:
    walk = study.walk
    keys = [study.name]
    rows = []
    for label, row in (("in sample: best by Sharpe", walk.chosen_train),
                       (f"out of sample: the same (rank {walk.chosen_test_rank} of {len(walk.test)})",
                        walk.chosen_test), ("out of sample: best in hindsight", walk.hindsight)):
        cash = study.cash_train if label.startswith("in") else study.cash_test
        rows.append([label, *(study.value(row[k]) for k in keys), _n(row["cagr"] * 100, "+.2f"),
                     _n((row["cagr"] - cash) * 100, "+.2f"), _n(row["sharpe"], ".2f"),
                     _n(row["max_drawdown"] * 100, "+.1f")])
    parts = [rh.para(fd.gate_verdict(study, label=title)),
             rh.table(["", *keys, "CAGR %", "over cash, pts/yr", "Sharpe", "max drawdown %"], rows,
                      f"walk-{study.name}"),
             rh.img(rh.walk_chart(study, axis), f"{title}: in and out of sample")]
    if study.refits is not None:
        refit_rows = [[f"{r.train_span[0]} .. {r.train_span[1]}", study.value(r.chosen[study.name]),
                       _n(r.chosen_train["cagr"] * 100, "+.2f"), f"{r.test_span[0]} .. {r.test_span[1]}",
                       _n(r.chosen_test["cagr"] * 100, "+.2f"), f"{r.rank} of {r.variants}",
                       study.value(r.hindsight_test[study.name])] for r in study.refits.refits]
        parts.append(rh.table([f"refit every {study.refits.refit_years} years: chosen on", study.name, "CAGR there %",
                               "followed over", "CAGR %", "rank",
                               "best there"], refit_rows, f"refits-{study.name}"))
    parts.append(_run_table([study.seed_run], "SPY", f"seed-{study.name}"))
    gate = study.gate
    if len(gate.episodes) <= 8:
        episodes = [[e.start, e.end, f"{e.sessions}", shown(e.strategy_return * 100, "+.2f")] for e in gate.episodes]
        parts.append(rh.table(["episode start", "end", "sessions", "return %"], episodes, f"episodes-{study.name}"))
    else:
        parts.append(rh.img(rh.episodes_chart(gate, f"{fd.episodes_words(gate)} at {study.name} = "
                                              f"{study.value(study.seed_value)}"), "episodes"))
    if spread is not None:
        result = study.seed_run.result
        parts.append(rh.img(rh.spread_gate_chart(spread, result.exposure["gross"], float(str(study.seed_value))),
                            "trailing spread with the gate"))
    return rh.section(title, f"gate-{study.name}", *parts)


def _rotation_section(found: fd.Findings) -> str:
    sig = found.signals
    assert sig is not None
    rows = [[f"{st.horizon}", f"{st.events}", _n(st.mean_excess * 100, "+.1f"), _n(st.naive_t, ".2f"),
             f"{st.independent}", _n(st.independent_mean * 100, "+.1f"), _n(st.independent_t, ".2f"),
             _n(st.hac_t, ".2f"), _n(st.hac_p, ".3f"), _n(st.placebo_mean * 100, "+.1f"), _n(st.placebo_p, ".3f")]
            for st in sig.studies]
    title = f"Rotation days (IWM beats QQQ by at least {sig.threshold * 100:.0f} points in a day)"
    if sig.events.empty:
        return rh.section(title, "rotation", rh.para(fd.rotation_lead(sig)))
    years = sig.events.index.year.value_counts().sort_index()
    by_year = ", ".join(f"{y}: {n}" for y, n in years.items())
    return rh.section(
        title, "rotation",
        rh.para(fd.rotation_lead(sig)),
        *(rh.para(v) for v in fd.rotation_verdicts(sig)),
        rh.table(["horizon (sessions)", "events", "mean pts", "plain t", "non-overlapping", "their mean pts",
                  "their t", "HAC t", "HAC p", "placebo mean pts", "placebo p"], rows, "rotation-table"),
        rh.para(f"{len(sig.events)} events by year: {by_year}. Forward excess = IWM's total return minus QQQ's over "
                "the horizon. HAC: every session's forward excess regressed on an event dummy with Newey-West "
                "errors over horizon - 1 lags. Placebo: the same event dates shifted together to random points "
                f"of the history ({len(sig.studies[0].placebo_draws)} times).", "small"),
        rh.img(rh.placebo_chart(sig), "rotation days against the placebo"),
    )


def _ratio_section(found: fd.Findings) -> str:
    sig = found.signals
    assert sig is not None
    r = sig.ratio_now
    notes = [rh.para(n, "note") for n in sig.notes]
    return rh.section(
        f"{r.numerator}/{r.denominator} and its record", "ratio",
        rh.para(fd.ratio_verdict(sig, SEED_RATIO_DAY)), *notes,
        rh.img(rh.ratio_chart(sig.ratio, SEED_RATIO_DAY), "index ratio history"),
    )


def _replica_section(found: fd.Findings) -> str:
    run = found.replica
    assert run is not None
    parts = [rh.para(fd.leveraged_verdict(run, benchmark="IWM", what="The 33 % TNA replica")),
             _run_table([run], "IWM", "replica-table"),
             rh.img(rh.curves_chart(_curves(run, benchmarks=("IWM",)), "33 % TNA + cash against IWM"),
                    "replica against IWM")]
    if found.replica_offsets is not None:
        parts += [rh.para(fd.offsets_verdict(found.replica_offsets)), rh.img(rh.offsets_chart(found.replica_offsets),
                                                                             "replica by rebalance day")]
    return rh.section("The replica (33 % TNA + cash) against IWM", "replica", *parts)


def _overlay_section(found: fd.Findings) -> str:
    run = found.overlay
    assert run is not None
    return rh.section(
        "The S&P overlay (70 % SPY, 10 % UPRO, 10 % TNA, 10 % SQQQ) against SPY", "overlay",
        rh.para(fd.leveraged_verdict(run, benchmark="SPY", what="The S&P overlay")),
        _run_table([run], "SPY", "overlay-table"),
        rh.img(rh.curves_chart(_curves(run, benchmarks=("SPY",)), "overlay against SPY"), "overlay against SPY"),
    )


def _data_section(found: fd.Findings, source: Mapping[str, object], label: str, spec: BootstrapSpec,
                  price_warnings: tuple[str, ...]) -> str:
    files = source.get("files")
    rows = [[name, str(digest)] for name, digest in files.items()] if isinstance(files, dict) else []
    whole = found.pair[0].result
    notes = sorted({n for run in _runs(found) for n in run.result.notes})
    warnings = sorted({w for run in _runs(found) for w in run.result.warnings} | set(price_warnings))
    return rh.section(
        "Data, settings and method", "data",
        rh.para(f"Prices: {label} ({source.get('kind')}); SHA-256 over the files read: {source.get('sha256', '-')}."
                , "small"),
        rh.table(["file", "sha256"], rows, "files") if rows else "",
        rh.para(f"Intervals: {spec.method}, mean block {spec.block_sessions} sessions, {spec.resamples:,} resamples"
                f", seed {spec.seed}, {spec.confidence:.0%}. Every backtest starts flat, trades whole shares at "
                "the close and ends on the last session the pair's legs and the benchmarks share.", "small"),
        rh.settings_table(settings_doc(whole.settings)),
        *(rh.para(f"note: {n}", "note") for n in notes),
        *(rh.para(f"warning: {w}", "note") for w in warnings),
    )


def _runs(found: fd.Findings) -> list[fd.Run]:
    runs = list(found.pair)
    runs += [s.seed_run for s in (found.spread_gate, found.trend_gate) if s is not None]
    runs += [r for r in (found.replica, found.overlay) if r is not None]
    return runs
