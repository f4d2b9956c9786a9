"""An on-disk cache of daily price frames: one CSV per symbol and source, plus the date range it covers.

CSV because parquet is not installed. Files are written atomically (temp file, then rename) and 0600.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from bot.adapters.history.frame import COLUMNS
from bot.errors import DataError


@dataclass(frozen=True, slots=True)
class Coverage:
    start: date
    end: date

    def holds(self, start: date, end: date) -> bool:
        return self.start <= start and end <= self.end

    def joins(self, other: Coverage) -> bool:
        return other.start <= self.end + timedelta(days=1) and self.start <= other.end + timedelta(days=1)


class FrameCache:
    """Price frames under `root`, keyed by symbol and a tag naming the source (e.g. "alpaca-iex-all")."""

    def __init__(self, root: Path, *, tag: str) -> None:
        if not tag or any(c in tag for c in "/\\ "):
            raise ValueError(f"cache tag must be a plain word, got {tag!r}")
        self.root = Path(root)
        self.tag = tag

    def _csv(self, symbol: str) -> Path:
        return self.root / f"{symbol.upper()}.{self.tag}.csv"

    def _meta(self, symbol: str) -> Path:
        return self.root / f"{symbol.upper()}.{self.tag}.json"

    def coverage(self, symbol: str) -> Coverage | None:
        meta, csv = self._meta(symbol), self._csv(symbol)
        if not meta.is_file() or not csv.is_file():
            return None
        try:
            raw = json.loads(meta.read_text())
            return Coverage(date.fromisoformat(raw["start"]), date.fromisoformat(raw["end"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # an unreadable entry is a miss, refetched and rewritten

    def read(self, symbol: str, start: date, end: date) -> pd.DataFrame:
        path = self._csv(symbol)
        try:
            frame = pd.read_csv(path, index_col="date", parse_dates=["date"])
        except (OSError, ValueError) as err:
            raise DataError(f"{path}: unreadable cache file: {err}".splitlines()[0]) from err
        frame.index = pd.DatetimeIndex(frame.index, name="date")
        return frame.loc[pd.Timestamp(start) : pd.Timestamp(end), list(COLUMNS)].astype("float64")

    def store(self, symbol: str, frame: pd.DataFrame, covered: Coverage) -> None:
        """Merge `frame` (which covers `covered`) with what is cached, if the two ranges touch."""
        old = self.coverage(symbol)
        if old is not None and old.joins(covered):
            kept = self.read(symbol, old.start, old.end)
            frame = pd.concat([kept[~kept.index.isin(frame.index)], frame]).sort_index()
            covered = Coverage(min(old.start, covered.start), max(old.end, covered.end))
        self.root.mkdir(parents=True, exist_ok=True)
        body = frame.loc[:, list(COLUMNS)].to_csv(date_format="%Y-%m-%d", float_format="%.6f")
        _write_private(self._csv(symbol), body)
        _write_private(self._meta(symbol), json.dumps({"start": covered.start.isoformat(),
                                                       "end": covered.end.isoformat()}) + "\n")


def _write_private(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
