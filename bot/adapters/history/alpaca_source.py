"""Daily bars from Alpaca's market data API through alpaca-py's transport, as price frames, cached on disk.

Bars are requested with adjustment=all (splits and dividends), so close is already a total-return
close and adj_close equals it. The replies are read as JSON, page by page, and mapped tolerantly
(bot.adapters.broker.bars), not through alpaca-py's strict Bar model.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from bot.adapters.broker.bars import bar_params, read_daily_bars
from bot.adapters.broker.mapping import DailyBar
from bot.adapters.history.cache import Coverage, FrameCache
from bot.adapters.history.frame import COLUMNS
from bot.errors import BrokerUnavailable, ConfigError, DataError

EARLIEST = date(2016, 1, 4)  # Alpaca's daily history begins around here
DEFAULT_CACHE = Path(".state/history")


class BarClient(Protocol):
    """The part of alpaca-py's StockHistoricalDataClient this source uses: RESTClient.get (raw JSON)."""

    def get(self, path: str, data: dict[str, str] | None = None) -> Any: ...


def bars_to_frames(data: Mapping[str, Sequence[DailyBar]]) -> dict[str, pd.DataFrame]:
    """Daily bars per symbol -> price frames (tz-naive session dates, float64 columns)."""
    out: dict[str, pd.DataFrame] = {}
    for symbol, bars in data.items():
        rows = [(pd.Timestamp(b.session), b.open, b.high, b.low, b.close, b.close, b.volume) for b in bars]
        frame = pd.DataFrame(rows, columns=["date", *COLUMNS]).set_index("date")
        frame = frame.astype("float64")
        out[symbol.upper()] = frame[~frame.index.duplicated(keep="last")].sort_index()
    return out


class AlpacaHistory:
    """Price frames for symbols and a date range: from the cache when it covers them, else from Alpaca."""

    def __init__(self, client: BarClient, *, feed: str = "iex", cache: FrameCache | None = None) -> None:
        self._client = client
        self._feed = feed
        self._cache = cache

    def frames(self, symbols: Collection[str], start: date, end: date) -> dict[str, pd.DataFrame]:
        if start > end:
            raise ConfigError(f"history start {start} is after its end {end}")
        out: dict[str, pd.DataFrame] = {}
        missing: list[str] = []
        for sym in sorted({s.upper() for s in symbols}):
            if self._cache is not None and self._cached(sym, start, end):
                out[sym] = self._cache.read(sym, start, end)
            else:
                missing.append(sym)
        if not missing:
            return out
        for sym, frame in self._fetch(missing, start, end).items():
            if sym not in missing or frame.empty:
                continue
            if self._cache is not None:
                self._cache.store(sym, frame, Coverage(start, end))
            out[sym] = frame
        return out

    def _cached(self, symbol: str, start: date, end: date) -> bool:
        if self._cache is None:
            return False
        covered = self._cache.coverage(symbol)
        return covered is not None and covered.holds(start, end)

    def _fetch(self, symbols: list[str], start: date, end: date) -> dict[str, pd.DataFrame]:
        from alpaca.common.exceptions import APIError
        from alpaca.data.enums import DataFeed

        try:
            DataFeed(self._feed)
        except ValueError:
            raise ConfigError(f"unknown Alpaca data feed {self._feed!r}") from None
        params = bar_params(symbols, start=datetime(start.year, start.month, start.day),
                            end=datetime(end.year, end.month, end.day, 23, 59), feed=self._feed)
        try:
            bars = read_daily_bars(lambda path, query: self._client.get(path, query), params)
        except APIError as err:
            status = err.status_code or 0
            if status == 429 or status >= 500:
                raise BrokerUnavailable(f"alpaca bars {status}: {err}".splitlines()[0]) from err
            raise DataError(f"alpaca bars {status}: {err}".splitlines()[0]) from err
        except OSError as err:
            raise BrokerUnavailable(f"alpaca bars: {err}".splitlines()[0]) from err
        return bars_to_frames(bars)


def alpaca_frames(
    symbols: Collection[str],
    *,
    start: date | None,
    end: date | None,
    today: date,
    api_key: str,
    secret_key: str,
    feed: str = "iex",
    url_override: str | None = None,
    required: Collection[str] = (),
    cache_dir: Path = DEFAULT_CACHE,
) -> dict[str, pd.DataFrame]:
    """Daily bars for `symbols`, cached under cache_dir; a symbol in `required` without bars raises DataError.

    The range ends yesterday at the latest, so today's unfinished bar is never cached.
    """
    from alpaca.data.historical import StockHistoricalDataClient

    client = StockHistoricalDataClient(api_key, secret_key, url_override=url_override)
    last = min(end or today, today - timedelta(days=1))
    first = start or EARLIEST
    source = AlpacaHistory(client, feed=feed, cache=FrameCache(cache_dir, tag=f"alpaca-{feed}-all"))
    frames = source.frames(symbols, first, last)
    absent = sorted({s.upper() for s in required} - set(frames))
    if absent:
        raise DataError(f"Alpaca returned no daily bars for {', '.join(absent)} between {first} and {last}")
    return frames
