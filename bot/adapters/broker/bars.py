"""Daily bars from GET /v2/stocks/bars as raw JSON, page by page (next_page_token), mapped tolerantly."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from bot.adapters.broker.mapping import DailyBar, bars_page, to_bar
from bot.adapters.broker.reading import Json, unexpected, utc

Get = Callable[[str, dict[str, str]], object]  # a client's get(path, params), e.g. StockHistoricalDataClient.get
Observe = Callable[[str, Json], None]
PAGE_LIMIT = 10_000  # what alpaca-py asks for per page


def bar_params(symbols: Collection[str], *, start: datetime, end: datetime, feed: str,
               adjustment: str = "all") -> dict[str, str]:
    """The query alpaca-py's StockBarsRequest sends: daily bars (adjusted unless `adjustment` says raw), times in
    UTC (naive = UTC)."""
    return {"symbols": ",".join(sorted({s.upper() for s in symbols})), "timeframe": "1Day",
            "start": utc(start).isoformat(), "end": utc(end).isoformat(), "adjustment": adjustment, "feed": feed,
            "limit": str(PAGE_LIMIT)}


def read_daily_bars(get: Get, params: dict[str, str], *, observe: Observe | None = None) -> dict[str, list[DailyBar]]:
    """Every page, bars per symbol in the order served (a page may end mid-symbol; the next continues it)."""
    out: dict[str, list[DailyBar]] = {}
    seen_tokens: set[str] = set()
    token: str | None = None
    while True:
        rows, token = bars_page(get("/stocks/bars", params | ({"page_token": token} if token else {})))
        for symbol, bars in rows.items():
            for raw in bars:
                if observe is not None:
                    observe("bar", raw)
                out.setdefault(symbol.upper(), []).append(to_bar(symbol, raw))
        if token is None:
            return out
        if token in seen_tokens:
            raise unexpected(f"the bars' next_page_token {token!r} came back twice")
        seen_tokens.add(token)
