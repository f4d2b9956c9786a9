"""Price frames: the CSV-directory loader (validated on load) and the seeded synthetic market.

A price frame is ``dict[str, pd.DataFrame]``; each frame has a tz-naive DatetimeIndex named "date"
(session dates, sorted, unique) and float64 columns open, high, low, close, adj_close, volume.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from bot.adapters.history.xnys import cache_dir, save_atomically, xnys_schedule
from bot.errors import DataError

COLUMNS = ("open", "high", "low", "close", "adj_close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close")

# The synthetic path is generated once over this fixed grid, so a date's value never depends on
# the requested start or end.
SYNTHETIC_EPOCH = date(2000, 1, 3)
SYNTHETIC_GRID_END = date(2040, 12, 31)
_ANCHOR = pd.Timestamp("2025-01-02")

# underlying: (annual drift, annual vol, level on the anchor date)
_BASES: dict[str, tuple[float, float, float]] = {
    "SPY": (0.08, 0.17, 585.0),
    "QQQ": (0.11, 0.22, 510.0),
    "IWM": (0.07, 0.23, 222.0),
}
_CORRELATION = np.array([[1.0, 0.90, 0.85], [0.90, 1.0, 0.78], [0.85, 0.78, 1.0]])
# derived fund: (underlying, daily multiple, level on the anchor date)
_DERIVED: dict[str, tuple[str, float, float]] = {
    "PSQ": ("QQQ", -1.0, 40.0),
    "SQQQ": ("QQQ", -3.0, 30.0),
    "TNA": ("IWM", 3.0, 42.0),
    "UPRO": ("SPY", 3.0, 90.0),
}
_CASH = ("BIL", 0.04, 91.5)
SYNTHETIC_SYMBOLS = frozenset(_BASES) | frozenset(_DERIVED) | {_CASH[0]}
_ORDER = ("SPY", "QQQ", "IWM", "PSQ", "SQQQ", "TNA", "UPRO", "BIL")
_ANCHOR_LEVELS: dict[str, float] = (
    {s: v[2] for s, v in _BASES.items()} | {s: v[2] for s, v in _DERIVED.items()} | {_CASH[0]: _CASH[2]}
)

_HEADER_ALIASES = {
    "date": "date", "timestamp": "date", "time": "date", "datetime": "date",
    "open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume",
    "adjclose": "adj_close", "adjustedclose": "adj_close", "adjclosing": "adj_close",
}
_SPLIT_RATIOS = (2.0, 3.0, 4.0, 5.0, 10.0, 1.5, 0.5, 1 / 3, 0.25, 0.2, 0.1, 2 / 3)
_MAX_JUMP = 0.40


RESERVED_FILES = frozenset({"splits.csv"})  # beside the prices, not a price file (issue: splits and dividends)


def load_csv_dir(directory: Path, symbols: Collection[str] | None = None) -> dict[str, pd.DataFrame]:
    """Load ``<SYMBOL>.csv`` files; every problem raises DataError naming file, row and date."""
    directory = Path(directory)
    if directory.is_file():
        raise DataError(f"{directory}: a file, not a directory: name the directory of <SYMBOL>.csv files "
                        f"({directory.parent})")
    if not directory.is_dir():
        raise DataError(f"{directory}: price directory does not exist")
    files = {p.stem.upper(): p for p in sorted(directory.glob("*.csv")) if p.name not in RESERVED_FILES}
    wanted = sorted({s.upper() for s in symbols}) if symbols is not None else sorted(files)
    out: dict[str, pd.DataFrame] = {}
    for sym in wanted:
        path = files.get(sym)
        if path is None:
            raise DataError(f"{directory / (sym + '.csv')}: missing price file for symbol {sym}")
        out[sym] = _load_csv(path)
    return out


def _load_csv(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: cannot read CSV: {err}".splitlines()[0]) from err
    raw = raw.rename(columns={c: _canonical(c) for c in raw.columns})
    if "date" not in raw.columns or "close" not in raw.columns:
        raise DataError(f"{path}: header must name at least date and close, got {list(raw.columns)}")
    no_adjusted = "adj_close" not in raw.columns
    if no_adjusted:
        raw["adj_close"] = raw["close"]
    if "volume" not in raw.columns:
        raw["volume"] = "0"
    for col in ("open", "high", "low"):
        if col not in raw.columns:
            raise DataError(f"{path}: missing column {col}")
    if raw.empty:
        raise DataError(f"{path}: no rows")
    dates = pd.to_datetime(raw["date"].str.strip().str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    values = {c: pd.to_numeric(raw[c].str.strip(), errors="coerce").astype("float64") for c in COLUMNS}
    frame = pd.DataFrame(values)
    frame.index = pd.DatetimeIndex(dates, name="date")
    _validate(path, frame, raw["date"])
    if no_adjusted:
        frame.attrs[NO_ADJ_CLOSE] = path.name
    return frame


NO_ADJ_CLOSE = "adj_close_missing"  # frame.attrs key: the file had no adj_close, so close stands in for it


def price_warnings(frames: Mapping[str, pd.DataFrame]) -> tuple[str, ...]:
    """What the loaded prices cannot do: a file without adj_close gives price returns, not total returns."""
    return tuple(
        f"{frame.attrs[NO_ADJ_CLOSE]} has no adj_close column: {sym}'s returns leave out its dividends "
        "(close is used instead)"
        for sym, frame in sorted(frames.items()) if NO_ADJ_CLOSE in frame.attrs
    )


def directory_digest(directory: Path, symbols: Collection[str]) -> dict[str, object]:
    """The price files read, each one's SHA-256, and one hash over all of them (names and bytes, sorted)."""
    files = sorted({f"{s.upper()}.csv" for s in symbols} | {n for n in RESERVED_FILES if (directory / n).is_file()})
    whole = hashlib.sha256()
    each: dict[str, str] = {}
    for name in files:
        path = directory / name
        if not path.is_file():
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        each[name] = digest
        whole.update(f"{name}\0{digest}\n".encode())
    return {"kind": "directory", "path": str(directory.resolve()), "sha256": whole.hexdigest(), "files": each}


def _canonical(header: str) -> str:
    key = "".join(ch for ch in header.strip().lower() if ch.isalnum())
    return _HEADER_ALIASES.get(key, header.strip().lower())


def _validate(path: Path, frame: pd.DataFrame, raw_dates: pd.Series) -> None:
    def fail(i: int, what: str) -> DataError:
        shown = raw_dates.iloc[i].strip() or "?"
        return DataError(f"{path}: row {i + 2} ({shown}): {what}")

    idx = frame.index
    for i in np.flatnonzero(idx.isna()):
        raise fail(int(i), "unparseable date")
    ns = idx.asi8
    for i in np.flatnonzero(np.diff(ns) < 0):
        raise fail(int(i) + 1, "dates are not sorted ascending")
    for i in np.flatnonzero(np.diff(ns) == 0):
        raise fail(int(i) + 1, "duplicate date")
    values = frame.to_numpy()
    for i in np.flatnonzero(np.isnan(values).any(axis=1)):
        missing = [c for c, v in zip(COLUMNS, values[i], strict=True) if math.isnan(v)]
        raise fail(int(i), f"missing or non-numeric value in {', '.join(missing)}")
    prices = frame[list(PRICE_COLUMNS)].to_numpy()
    for i in np.flatnonzero((prices <= 0).any(axis=1)):
        raise fail(int(i), "non-positive price")
    for i in np.flatnonzero(frame["volume"].to_numpy() < 0):
        raise fail(int(i), "negative volume")
    close = frame["close"].to_numpy()
    ratios = close[1:] / close[:-1]
    for i in np.flatnonzero(np.abs(ratios - 1.0) > _MAX_JUMP):
        ratio = float(ratios[i])
        near = min(_SPLIT_RATIOS, key=lambda r: abs(ratio / r - 1.0))
        raise fail(int(i) + 1, f"close jumps by ratio {ratio:.3f} (near {near:.3g}): looks like an "
                               "unadjusted split; use split-adjusted prices")


def synthetic_history(symbols: Collection[str], *, start: date, end: date, seed: int = 7) -> dict[str, pd.DataFrame]:
    """Deterministic correlated walks; a date's value depends only on the seed, never on start/end."""
    unknown = sorted(set(symbols) - SYNTHETIC_SYMBOLS)
    if unknown:
        raise DataError(f"synthetic market has no symbol {', '.join(unknown)}; known: {sorted(SYNTHETIC_SYMBOLS)}")
    full = _synthetic_path(seed)
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    return {sym: full[sym].loc[lo:hi].copy() for sym in symbols}


@lru_cache(maxsize=1)
def nyse_sessions() -> pd.DatetimeIndex:
    """XNYS session dates over the synthetic grid (tz-naive, no freq: like a CSV's), loaded once per process."""
    days = xnys_schedule().days
    lo, hi = np.datetime64(SYNTHETIC_EPOCH, "D"), np.datetime64(SYNTHETIC_GRID_END, "D")
    return pd.DatetimeIndex(days[(days >= lo) & (days <= hi)].astype("datetime64[ns]"), name="date")


@lru_cache(maxsize=8)
def _synthetic_path(seed: int) -> dict[str, pd.DataFrame]:
    sessions = nyse_sessions()
    walk = _cached_walk(seed, sessions)
    return {sym: pd.DataFrame(walk[k].T, index=sessions, columns=list(COLUMNS), copy=False)
            for k, sym in enumerate(_ORDER)}


def _cached_walk(seed: int, sessions: pd.DatetimeIndex) -> np.ndarray:
    """The walk from the user's cache when an earlier process made it with the same generator, else made now.

    Generating it costs 15-20 ms in every process that starts the local exchange (every local run and most
    tests); the file is keyed by everything the values depend on (the code below, its constants, the seed,
    the sessions and numpy's version), so a stale one is never read."""
    path = cache_dir() / f"synthetic-{_walk_key(seed, sessions)}.npy"
    shape = (len(_ORDER), len(COLUMNS), len(sessions))
    try:
        saved: np.ndarray = np.load(path, allow_pickle=False)
        if saved.shape == shape and saved.dtype == np.float64:
            return saved
    except (OSError, ValueError, EOFError):
        pass
    walk = _walk(seed, sessions)
    save_atomically(path, lambda f: np.save(f, walk, allow_pickle=False))
    return walk


def _walk_key(seed: int, sessions: pd.DatetimeIndex) -> str:
    digest = hashlib.sha256()
    for fn in (_walk, _ohlcv):
        digest.update(fn.__code__.co_code)
        digest.update(repr(fn.__code__.co_consts).encode())
    constants = (seed, np.__version__, _BASES, _CORRELATION.tolist(), _DERIVED, _CASH, _ORDER, _ANCHOR_LEVELS,
                 str(_ANCHOR), COLUMNS)
    digest.update(repr(constants).encode())
    digest.update(sessions.asi8.tobytes())
    return digest.hexdigest()[:20]


def _walk(seed: int, sessions: pd.DatetimeIndex) -> np.ndarray:
    """(symbol in _ORDER, column in COLUMNS, session): deterministic correlated walks from the seed."""
    n = len(sessions)
    rng = np.random.default_rng(seed)
    shocks = rng.standard_normal((n, 3)) @ np.linalg.cholesky(_CORRELATION).T
    noise = rng.standard_normal((n, len(_ORDER), 4))
    anchor = int(sessions.searchsorted(_ANCHOR))
    simple: dict[str, np.ndarray] = {}
    for j, (sym, (mu, vol, _)) in enumerate(_BASES.items()):
        daily = vol / math.sqrt(252)
        simple[sym] = np.expm1(mu / 252 - daily * daily / 2 + daily * shocks[:, j])
    for sym, (under, mult, _) in _DERIVED.items():
        simple[sym] = np.maximum(mult * simple[under] - 0.0095 / 252, -0.95)
    simple[_CASH[0]] = (1 + _CASH[1]) ** (1 / 252) - 1 + 0.00005 * noise[:, _ORDER.index("BIL"), 3]
    out = np.empty((len(_ORDER), len(COLUMNS), n))
    for k, sym in enumerate(_ORDER):
        r = simple[sym].copy()
        r[0] = 0.0
        close = np.cumprod(1.0 + r)
        close *= _ANCHOR_LEVELS[sym] / close[anchor]
        _ohlcv(out[k], close, abs(r).mean() + 1e-4, noise[:, k, :])
    return out


def _ohlcv(out: np.ndarray, close: np.ndarray, scale: float, z: np.ndarray) -> None:
    """Rows open, high, low, close, adj_close, volume of one symbol into out (6, n)."""
    prev = np.concatenate(([close[0]], close[:-1]))
    open_ = prev * np.exp(0.3 * scale * z[:, 0])
    out[0] = open_
    out[1] = np.maximum(open_, close) * np.exp(0.5 * scale * np.abs(z[:, 1]))
    out[2] = np.minimum(open_, close) * np.exp(-0.5 * scale * np.abs(z[:, 2]))
    out[3] = close
    out[4] = close
    out[5] = np.round(2.0e7 * np.exp(0.3 * z[:, 3]))
