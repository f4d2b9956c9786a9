"""Research signals behind the trade: the trailing-year spread, rotation days, the index ratio, IWM's trend.

Everything here reads adjusted daily closes (a DataFrame, one column per symbol) and returns values;
`bot/commands/signals.py` prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import pandas as pd

from bot.errors import DataError
from bot.research.eventstudy import HorizonStudy, study
from strategies.indicators import TrendState, trend_state

TRADING_YEAR = 252
HORIZONS_SESSIONS = (63, 252)
HORIZONS_MONTHS = (3, 12)
DECLUSTER_SESSIONS = 21
EPISODE_GAP = 21  # sessions back inside the band that end an extreme episode


def adjusted_closes(frames: Mapping[str, pd.DataFrame], symbols: tuple[str, ...]) -> pd.DataFrame:
    missing = [s for s in symbols if s not in frames]
    if missing:
        raise DataError(f"no price history for {', '.join(missing)}")
    return pd.DataFrame({s: frames[s]["adj_close"] for s in symbols}).dropna()


# -- the trailing-year spread ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpreadNow:
    as_of: date
    spread: float  # long - short total return over the trailing window, e.g. -0.35
    percentile: float  # share of history at or below today's value, 0..1
    last_as_extreme: date | None  # the last session at least this extreme before the current episode
    days: int


def trailing_spread_history(closes: pd.DataFrame, *, long: str, short: str, days: int = TRADING_YEAR) -> pd.Series:
    """long minus short total return over each trailing window of `days` sessions."""
    spread = closes[long].pct_change(days, fill_method=None) - closes[short].pct_change(days, fill_method=None)
    return spread.dropna().rename(f"{long}-{short} {days}d")


def _before_episode(flags: np.ndarray, gap: int) -> int | None:
    """The last flagged index before the current episode; an episode ends after `gap` unflagged sessions."""
    quiet = 0
    for i in range(len(flags) - 1, -1, -1):
        if not flags[i]:
            quiet += 1
        elif quiet >= gap:
            return i
        else:
            quiet = 0
    return None


def spread_now(spread: pd.Series, days: int = TRADING_YEAR) -> SpreadNow:
    """Today's spread, its percentile, and when it was last this far from the median before this episode."""
    if spread.empty:
        raise DataError("not enough history for a trailing spread")
    value = float(spread.iloc[-1])
    below_median = value <= float(spread.median())
    as_extreme = (spread <= value) if below_median else (spread >= value)
    flags = as_extreme.to_numpy()
    last = _before_episode(flags, EPISODE_GAP)
    last_date = spread.index[last].date() if last is not None else None
    pct = float((spread <= value).mean())
    return SpreadNow(spread.index[-1].date(), value, pct, last_date, days)


# -- rotation days -------------------------------------------------------------------------------


def rotation_events(
    closes: pd.DataFrame, *, long: str, short: str, threshold: float = 0.04, decluster: int = DECLUSTER_SESSIONS
) -> pd.DataFrame:
    """Sessions where long beat short by at least `threshold` in one day, with forward returns.

    Columns: spread (that day's long - short return), first_in_cluster (no earlier event within
    `decluster` sessions), and forward total returns of both legs over 3 and 12 calendar months
    (fwd_3m_IWM, ...) and 63 and 252 sessions (fwd_63d_IWM, ...); NaN where history runs out.
    """
    daily = closes[long].pct_change(fill_method=None) - closes[short].pct_change(fill_method=None)
    hits = np.flatnonzero(daily.to_numpy() >= threshold)
    table = pd.DataFrame({"spread": daily.iloc[hits].to_numpy()}, index=closes.index[hits])
    table.index.name = "date"
    kept, last = [], -(10**9)
    for pos in hits.tolist():
        kept.append(pos - last > decluster)
        if kept[-1]:
            last = pos
    table["first_in_cluster"] = np.array(kept, dtype=np.bool_)
    for sym in (long, short):
        series = closes[sym]
        for n in HORIZONS_SESSIONS:
            ahead = series.shift(-n).iloc[hits].to_numpy()
            table[f"fwd_{n}d_{sym}"] = ahead / series.iloc[hits].to_numpy() - 1.0
        for months in HORIZONS_MONTHS:
            table[f"fwd_{months}m_{sym}"] = _forward_months(series, closes.index[hits], months)
    return table


def _forward_months(series: pd.Series, when: pd.DatetimeIndex, months: int) -> np.ndarray:
    """Return to the last close on or before the same calendar day `months` later (NaN past the data)."""
    out = np.full(len(when), np.nan)
    end = series.index[-1]
    for k, day in enumerate(when):
        later = day + pd.DateOffset(months=months)
        if later > end:
            continue
        pos = series.index.searchsorted(later, side="right") - 1
        out[k] = float(series.iloc[pos]) / float(series.loc[day]) - 1.0
    return out


def event_summary(events: pd.DataFrame, closes: pd.DataFrame, *, long: str, short: str) -> pd.DataFrame:
    """Mean forward returns and the share of events where long beat short, all vs de-clustered vs every day."""
    rows = {}
    declustered = events.loc[events["first_in_cluster"].to_numpy(np.bool_)]
    for label, subset in (("all events", events), ("de-clustered", declustered)):
        rows[label] = _horizon_stats(subset, long, short) | {"events": float(len(subset))}
    baseline = pd.DataFrame(index=closes.index)
    for sym in (long, short):
        for n in HORIZONS_SESSIONS:
            baseline[f"fwd_{n}d_{sym}"] = closes[sym].shift(-n) / closes[sym] - 1.0
    rows["every session"] = _horizon_stats(baseline, long, short, months=False) | {"events": float(len(baseline))}
    return pd.DataFrame(rows).T


def _horizon_stats(table: pd.DataFrame, long: str, short: str, *, months: bool = True) -> dict[str, float]:
    stats: dict[str, float] = {}
    labels = [f"{n}d" for n in HORIZONS_SESSIONS] + ([f"{m}m" for m in HORIZONS_MONTHS] if months else [])
    for h in labels:
        a, b = table[f"fwd_{h}_{long}"], table[f"fwd_{h}_{short}"]
        ok = a.notna() & b.notna()
        stats[f"{h} {long}"] = float(a[ok].mean()) if ok.any() else np.nan
        stats[f"{h} {short}"] = float(b[ok].mean()) if ok.any() else np.nan
        stats[f"{h} {long}>{short}"] = float((a[ok] > b[ok]).mean()) if ok.any() else np.nan
    return stats


# -- the index ratio -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RatioNow:
    numerator: str
    denominator: str
    as_of: date
    value: float
    record: float
    record_date: date

    @property
    def from_record(self) -> float:
        return self.value / self.record - 1.0


def index_ratio(frames: Mapping[str, pd.DataFrame]) -> tuple[pd.Series, RatioNow]:
    """NDX / RUT levels when both indexes are present, else QQQ / IWM adjusted closes."""
    if "NDX" in frames and "RUT" in frames:
        num, den, column = "NDX", "RUT", "close"
    elif "QQQ" in frames and "IWM" in frames:
        num, den, column = "QQQ", "IWM", "adj_close"
    else:
        raise DataError("the index ratio needs NDX and RUT, or QQQ and IWM")
    ratio = (frames[num][column] / frames[den][column]).dropna().rename(f"{num}/{den}")
    if ratio.empty:
        raise DataError(f"{num} and {den} share no sessions")
    top = int(np.argmax(ratio.to_numpy()))
    now = RatioNow(num, den, ratio.index[-1].date(), float(ratio.iloc[-1]), float(ratio.iloc[top]),
                   ratio.index[top].date())
    return ratio, now


# -- IWM's trend -------------------------------------------------------------------------------


def trend(close: pd.Series) -> TrendState:
    """The long leg's trend as the pair's trend gate reads it."""
    return trend_state(close)


def rsi_wilder(close: pd.Series, period: int = 14) -> pd.Series:
    change = close.diff()
    gain = change.clip(lower=0.0).ewm(alpha=1.0 / period, adjust=False, min_periods=period).mean()
    loss = (-change.clip(upper=0.0)).ewm(alpha=1.0 / period, adjust=False, min_periods=period).mean()
    rs = gain / loss
    return (100.0 - 100.0 / (1.0 + rs)).where(loss > 0, 100.0).rename("rsi")


# -- everything, as one document ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signals:
    spread: pd.Series
    spread_now: SpreadNow
    events: pd.DataFrame
    summary: pd.DataFrame
    studies: tuple[HorizonStudy, ...]  # one per horizon in HORIZONS_SESSIONS, overlap counted once
    ratio: pd.Series
    ratio_now: RatioNow
    trend: TrendState  # of the long leg
    long: str
    short: str
    threshold: float
    as_of: date | None = None  # None: the whole history
    notes: tuple[str, ...] = ()


def frames_up_to(frames: Mapping[str, pd.DataFrame], as_of: date) -> dict[str, pd.DataFrame]:
    """Every frame cut at as_of: what was known at that day's close."""
    cut = pd.Timestamp(as_of)
    return {sym: frame.loc[frame.index <= cut] for sym, frame in frames.items()}


def compute_signals(
    frames: Mapping[str, pd.DataFrame], *, long: str = "IWM", short: str = "QQQ", threshold: float = 0.04,
    days: int = TRADING_YEAR, as_of: date | None = None,
) -> Signals:
    if as_of is not None:
        frames = frames_up_to(frames, as_of)
    closes = adjusted_closes(frames, (long, short))
    if len(closes) < days + 2:
        raise DataError(f"{long} and {short} share {len(closes)} sessions up to {as_of or 'the end'}; the "
                        f"trailing spread needs {days + 2}")
    spread = trailing_spread_history(closes, long=long, short=short, days=days)
    events = rotation_events(closes, long=long, short=short, threshold=threshold)
    ratio, ratio_now = index_ratio(frames)
    now = spread_now(spread, days)
    return Signals(
        spread=spread,
        spread_now=now,
        events=events,
        summary=event_summary(events, closes, long=long, short=short),
        studies=tuple(study(closes, pd.DatetimeIndex(events.index), long=long, short=short, horizon=h)
                      for h in HORIZONS_SESSIONS),
        ratio=ratio,
        ratio_now=ratio_now,
        trend=trend(closes[long]),
        long=long,
        short=short,
        threshold=threshold,
        as_of=as_of,
        notes=as_of_notes(now.as_of, ratio_now, as_of),
    )


def as_of_notes(spread_as_of: date, ratio: RatioNow, as_of: date | None) -> tuple[str, ...]:
    """Flag figures dated differently: each is as of its own data's last session."""
    notes = []
    if ratio.as_of != spread_as_of:
        notes.append(f"dated differently: the spread and the trend are as of {spread_as_of}, "
                     f"{ratio.numerator}/{ratio.denominator} as of {ratio.as_of} (each file's last session)")
    if as_of is not None:
        stale = [f"{what} {when}" for what, when in (("the spread", spread_as_of),
                                                     (f"{ratio.numerator}/{ratio.denominator}", ratio.as_of))
                 if when < as_of]
        if stale:
            notes.append(f"asked for {as_of}; the data end earlier: {', '.join(stale)}")
    return tuple(notes)


def ratio_history(ratio: pd.Series) -> pd.DataFrame:
    """The ratio at each year's last session, with that year's high and the record so far."""
    yearly = ratio.groupby(ratio.index.year)
    table = pd.DataFrame({"last": yearly.last(), "high": yearly.max(), "high_date": yearly.idxmax().dt.date})
    table["record_so_far"] = table["high"].cummax()
    table.index.name = "year"
    return table


def signals_document(sig: Signals) -> dict[str, object]:
    """A JSON-ready document: current values, records and the event list with forward returns."""
    events = sig.events.reset_index()
    events["date"] = events["date"].dt.date.astype(str)
    return {
        "pair": {"long": sig.long, "short": sig.short},
        "trailing_spread": {**_plain(asdict(sig.spread_now)),
                            "history_start": str(sig.spread.index[0].date())},
        "index_ratio": {**_plain(asdict(sig.ratio_now)), "from_record": sig.ratio_now.from_record},
        "trend": {"symbol": sig.long, **_plain(asdict(sig.trend)), "above_ma": sig.trend.above_ma,
                  "macd_histogram": sig.trend.macd_histogram, "state": sig.trend.state, "score": sig.trend.score},
        "as_of": None if sig.as_of is None else sig.as_of.isoformat(),
        "notes": list(sig.notes),
        "rotation_days": {
            "threshold": sig.threshold,
            "decluster_sessions": DECLUSTER_SESSIONS,
            "overlap_robust": [_plain(st.doc()) for st in sig.studies],
            "summary": _records(sig.summary.reset_index(names="set")),
            "events": _records(events),
        },
    }


def _plain(values: Mapping[str, object]) -> dict[str, object]:
    return {k: (v.isoformat() if isinstance(v, date) else None if _is_nan(v) else v) for k, v in values.items()}


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and value != value


def _records(table: pd.DataFrame) -> list[dict[str, object]]:
    clean = table.astype(object).where(table.notna(), None)
    return [{str(k): _scalar(v) for k, v in row.items()} for row in clean.to_dict(orient="records")]


def _scalar(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return value
