"""splits.csv beside the prices: `symbol,date,ratio[,kind]`, one row per split, validated on load."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bot.core.corporate import Split
from bot.core.domain import Symbol
from bot.errors import DataError

SPLITS_FILE = "splits.csv"
KINDS = {"forward": True, "reverse": False}  # kind -> whether the ratio must be above 1


def splits_beside(directory: Path) -> tuple[Split, ...] | None:
    """The splits listed in DIR/splits.csv, or None when the directory has no such file."""
    path = Path(directory) / SPLITS_FILE
    return load_splits(path) if path.is_file() else None


def load_splits(path: Path) -> tuple[Split, ...]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read: {err}") from None
    if rows and not {"symbol", "date", "ratio"} <= set(rows[0]):
        raise DataError(f"{path}: header must be symbol,date,ratio[,kind], got {','.join(rows[0])}")
    out = [_split(path, i + 2, row) for i, row in enumerate(rows)]
    seen: set[tuple[str, object]] = set()
    for s in out:
        if (s.symbol, s.on) in seen:
            raise DataError(f"{path}: {s.symbol} has two splits on {s.on}")
        seen.add((s.symbol, s.on))
    return tuple(sorted(out, key=lambda s: (s.on, s.symbol)))


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"bad date {text!r} (expected YYYY-MM-DD)") from None


def _split(path: Path, line: int, row: dict[str, str]) -> Split:
    where = f"{path}: line {line}"
    symbol = (row.get("symbol") or "").strip().upper()
    if not symbol:
        raise DataError(f"{where}: no symbol")
    text = (row.get("ratio") or "").strip()
    try:
        ratio = Decimal(text)
    except InvalidOperation:
        raise DataError(f"{where}: ratio {text!r} is not a number (e.g. 2 for a 2-for-1, 0.2 for a 1-for-5)") from None
    try:
        split = Split(Symbol(symbol), _day(row.get("date") or ""), ratio)
    except ValueError as err:
        raise DataError(f"{where}: {err}") from None
    kind = (row.get("kind") or "").strip().lower()
    if kind and (kind not in KINDS or KINDS[kind] == split.is_reverse):
        raise DataError(f"{where}: kind {kind!r} does not match ratio {ratio} (forward > 1 > reverse)")
    return split
