"""The research page: one self-contained HTML file (charts as embedded PNG) from bot.research.findings' answers."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bot.research import findings as fd
from bot.research.intervals import Interval
from bot.research.plots import figure_png

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


# -- charts ----------------------------------------------------------------------------------------------


def png(draw: Callable[[Figure], None], *, size: tuple[float, float] = (10, 3.6)) -> str:
    return figure_png(draw, size=size)


def _dollar_axis(ax: Axes) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"${v / 1e3:,.0f}k"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.grid(True, alpha=0.3)


def curves_chart(curves: Mapping[str, pd.Series], title: str) -> str:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        for i, (name, s) in enumerate(curves.items()):
            ax.plot(s.index, s.to_numpy(), label=name, lw=2 if i == 0 else 1.1, color=f"C{i}")
        _dollar_axis(ax)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("equity from $100k (log scale)")
        ax.legend(loc="upper left", fontsize=8)

    return png(draw)


def forest_chart(rows: Sequence[tuple[str, Interval | None, Interval | None]], labels: tuple[str, str]) -> str:
    """Each span's two excess returns with their 95 % intervals, in points a year."""
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        for k, (offset, color, label) in enumerate(((-0.15, "#1f4e79", labels[0]), (0.15, "#c0392b", labels[1]))):
            for i, row in enumerate(rows):
                iv = row[1] if k == 0 else row[2]
                if iv is None:
                    continue
                ax.errorbar(iv.estimate * 100, i + offset, xerr=[[(iv.estimate - iv.low) * 100],
                                                                  [(iv.high - iv.estimate) * 100]],
                            fmt="o", color=color, capsize=4, label=label if i == 0 else None)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(len(rows)), [r[0] for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel("CAGR difference, points a year (95 % block-bootstrap interval)")
        ax.grid(True, axis="x", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)

    return png(draw, size=(10, 0.6 * len(rows) + 1.6))


def walk_chart(study: fd.GateStudy, label: str) -> str:
    """Each grid value's CAGR over cash in the training span and after it; the training choice marked."""
    walk = study.walk
    values = sorted(walk.train[study.name].tolist(), key=float)
    train = walk.train.set_index(study.name)["cagr"] - study.cash_train
    test = walk.test.set_index(study.name)["cagr"] - study.cash_test

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        x = np.arange(len(values))
        ax.bar(x - 0.2, [train[v] * 100 for v in values], 0.4, label=f"in sample {walk.train_span[0][:4]}.."
               f"{walk.train_span[1][:4]}", color="#7f8c8d")
        ax.bar(x + 0.2, [test[v] * 100 for v in values], 0.4, label=f"out of sample {walk.test_span[0][:4]}.."
               f"{walk.test_span[1][:4]}", color="#c0392b")
        chosen = values.index(walk.chosen[study.name])
        ax.annotate("chosen in sample", (chosen - 0.2, max(float(train[values[chosen]]) * 100, 0.0)), xytext=(0, 24),
                    textcoords="offset points", ha="center", fontsize=8, arrowprops={"arrowstyle": "->"})
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(x, [study.value(v) for v in values])
        ax.set_xlabel(label)
        ax.set_ylabel("CAGR minus cash's, pts a year")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8)

    return png(draw, size=(10, 3.2))


def episodes_chart(gate: Any, title: str) -> str:
    """Each episode's return, as a bar at its start as wide as it lasted."""
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        for e in gate.episodes:
            lo, hi = pd.Timestamp(e.start), pd.Timestamp(e.end)
            color = "#27ae60" if e.strategy_return > 0 else "#c0392b"
            ax.bar(lo, e.strategy_return * 100, width=max((hi - lo).days, 5), align="edge", color=color)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_ylabel("episode return, %")
        ax.set_title(title, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)

    return png(draw, size=(10, 2.8))


def spread_gate_chart(spread: pd.Series, exposure: pd.Series, threshold: float) -> str:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.plot(spread.index, spread.to_numpy() * 100, color="#6c3483", lw=1, label="IWM - QQQ, trailing 252 sessions")
        ax.axhline(threshold * 100, color="#c0392b", ls="--", lw=1, label=f"gate: at most {threshold * 100:.0f} pts")
        held = exposure.reindex(spread.index).fillna(0.0).to_numpy() > 1e-9
        ax.fill_between(spread.index, -80, 80, where=held, color="#27ae60", alpha=0.25, label="pair held")
        ax.set_ylim(min(-60.0, float(spread.min()) * 100 - 5), max(60.0, float(spread.max()) * 100 + 5))
        ax.axhline(0, color="black", lw=0.6)
        ax.set_ylabel("points")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)

    return png(draw, size=(10, 3.2))


def placebo_chart(sig: Any) -> str:
    def draw(fig: Figure) -> None:
        for k, st in enumerate(sig.studies):
            ax = fig.add_subplot(1, len(sig.studies), k + 1)
            ax.hist(st.placebo_draws * 100, bins=50, color="#95a5a6", label="placebo: the same dates shifted")
            ax.axvline(st.mean_excess * 100, color="#c0392b", lw=2, label=f"rotation days ({st.events})")
            ax.axvline(st.independent_mean * 100, color="#1f4e79", lw=2, ls="--",
                       label=f"non-overlapping ({st.independent})")
            ax.set_title(f"mean forward IWM - QQQ over {st.horizon} sessions", fontsize=9)
            ax.set_xlabel("points")
            ax.legend(fontsize=7)

    return png(draw, size=(10, 3.2))


def ratio_chart(ratio: pd.Series, seed_day: str | None) -> str:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.plot(ratio.index, ratio.to_numpy(), color="#2c3e50", lw=1)
        top = ratio.idxmax()
        ax.plot([top], [ratio.max()], "o", color="#c0392b")
        ax.annotate(f"record {ratio.max():.2f} on {top.date()}", (top, ratio.max()), xytext=(-170, 6),
                    textcoords="offset points", fontsize=8, color="#c0392b")
        if seed_day is not None and pd.Timestamp(seed_day) in ratio.index:
            v = float(ratio.loc[pd.Timestamp(seed_day)])
            ax.plot([pd.Timestamp(seed_day)], [v], "s", color="#e67e22")
            ax.annotate(f"{v:.2f} on {seed_day} (the notes' figure)", (pd.Timestamp(seed_day), v),
                        xytext=(-290, -14), textcoords="offset points", fontsize=8, color="#e67e22")
        ax.set_ylim(top=float(ratio.max()) * 1.08)
        ax.set_ylabel(str(ratio.name))
        ax.grid(True, alpha=0.3)

    return png(draw, size=(10, 3.0))


def offsets_chart(table: pd.DataFrame) -> str:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        colors = ["#c0392b" if o == 0 else "#7f8c8d" for o in table["offset"]]
        ax.bar(table["offset"], table["cagr"] * 100, color=colors)
        ax.set_ylim(float(table["cagr"].min()) * 100 - 0.5, float(table["cagr"].max()) * 100 + 0.5)
        ax.set_xlabel("rebalance on the k-th session of each quarter (red: the default, k = 0)")
        ax.set_ylabel("CAGR, % a year")
        ax.grid(True, axis="y", alpha=0.3)

    return png(draw, size=(10, 2.8))


# -- HTML --------------------------------------------------------------------------------------------------

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1000px;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.source { color: #555; font-size: 0.9em; }
.verdicts { background: #f4f8fb; border-left: 4px solid #1f4e79; padding: 0.6em 1em; }
.verdicts li { margin: 0.35em 0; }
.verdict { background: #fbfbf4; border-left: 4px solid #b7950b; padding: 0.5em 0.9em; }
.note { color: #7a5c00; font-size: 0.9em; }
img.chart { width: 100%; border: 1px solid #ddd; margin: 0.4em 0; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.5em 0; max-width: 100%; }
td, th { border: 1px solid #ccc; padding: 3px 7px; } th { background: #f2f2f2; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 0.9em; } .small { font-size: 0.85em; color: #444; }
"""


NUMBER = re.compile(r"[+-]?[\d,]+(\.\d+)?( \[[+-]?[\d.,]+, [+-]?[\d.,]+\])?")  # a figure, or one with its interval


def img(b64: str, alt: str) -> str:
    return f'<img class="chart" alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def table(columns: Sequence[str], rows: Sequence[Sequence[str]], css_id: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)

    def cell(v: str) -> str:
        numeric = NUMBER.fullmatch(v) is not None
        return f'<td class="num">{html.escape(v)}</td>' if numeric else f"<td>{html.escape(v)}</td>"

    body = "\n".join("<tr>" + "".join(cell(str(v)) for v in r) + "</tr>" for r in rows)
    return f'<table id="{css_id}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def section(title: str, css_id: str, *parts: str) -> str:
    return f'<section id="{css_id}"><h2>{html.escape(title)}</h2>\n' + "\n".join(parts) + "</section>"


def para(text: str, css: str = "verdict") -> str:
    return f'<p class="{css}">{html.escape(text)}</p>'


def page(*, title: str, source_line: str, verdicts: Sequence[str], sections: Sequence[str],
         generated_at: datetime | None = None) -> str:
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    items = "\n".join(f"<li>{html.escape(v)}</li>" for v in verdicts)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="source">{html.escape(source_line)} · generated {when}</p>
<section id="verdicts"><h2>Verdicts</h2><ul class="verdicts">
{items}
</ul></section>
{"".join(sections)}
</body></html>
"""


def settings_table(doc: Mapping[str, object]) -> str:
    rows = [[k, json.dumps(v, default=str) if isinstance(v, list | dict) else str(v)] for k, v in doc.items()]
    return table(["setting", "value"], rows, "settings")
