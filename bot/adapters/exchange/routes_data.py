"""Market Data v2 routes: daily bars with next_page_token paging, latest trades and quotes."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, time

import pandas as pd

from bot.adapters.exchange.clock import ET
from bot.adapters.exchange.models import JSON, ts, unprocessable
from bot.adapters.exchange.routes_trading import Ctx, Handler, Reply, _int, _when

DAILY = frozenset({"1Day", "1D", "1day", "Day"})


def _symbols(ctx: Ctx) -> list[str]:
    raw = ctx.query.get("symbols", "")
    if not raw:
        raise unprocessable("symbols is required", 42210000)
    return sorted({s.strip().upper() for s in raw.split(",") if s.strip()})


def _encode_token(symbol: str, t: str) -> str:
    return base64.b64encode(f"{symbol}|{t}".encode()).decode()


def _decode_token(token: str) -> tuple[str, str]:
    try:
        symbol, t = base64.b64decode(token.encode()).decode().split("|", 1)
    except (ValueError, UnicodeDecodeError) as err:
        raise unprocessable("invalid page_token", 42210000) from err
    return symbol, t


def get_bars(ctx: Ctx, _: re.Match[str]) -> Reply:
    q = ctx.query
    if q.get("timeframe", "1Day") not in DAILY:
        raise unprocessable(f"timeframe {q.get('timeframe')} is not supported by the local exchange (1Day only)",
                            42210000)
    book, clock = ctx.engine.book, ctx.engine.clock
    last_day = clock.price_day(ctx.at)
    start = _when(q.get("start")) or datetime.combine(ctx.at.astimezone(ET).date(), time(0), ET)
    end = min(_when(q.get("end")) or ctx.at, ctx.at)
    limit = max(1, min(_int(q.get("limit"), 1000), 10000))
    adjusted = q.get("adjustment", "raw") != "raw"  # raw: as traded; split, dividend, all: adjusted by adj_close
    descending = q.get("sort") == "desc"
    after = _decode_token(q["page_token"]) if q.get("page_token") else None
    bars: dict[str, list[JSON]] = {}
    count, next_token, last = 0, None, ("", "")
    for symbol in _symbols(ctx):
        if not book.has(symbol) or (after and symbol < after[0]):
            continue
        first, last_bar = start.astimezone(ET).date(), min(end.astimezone(ET).date(), last_day)
        rows = _rows(book.bars(symbol, first, last_bar, as_traded=not adjusted), start, end, adjusted)
        if descending:
            rows.reverse()
        if after and symbol == after[0]:
            rows = [r for r in rows if (r["t"] < after[1] if descending else r["t"] > after[1])]
        for row in rows:
            if count == limit:
                next_token = _encode_token(*last)
                break
            bars.setdefault(symbol, []).append(ctx.render("bar", row))
            count, last = count + 1, (symbol, row["t"])
        if next_token:
            break
    return 200, {"bars": bars, "next_page_token": next_token}


def _rows(frame: pd.DataFrame, start: datetime, end: datetime, adjusted: bool) -> list[JSON]:
    if frame.empty:
        return []
    stamps = frame.index.tz_localize(ET).tz_convert(UTC)
    keep = (stamps >= start) & (stamps <= end)
    frame, stamps = frame[keep], stamps[keep]
    factor = (frame["adj_close"] / frame["close"]).to_numpy() if adjusted else 1.0
    o, h = frame["open"].to_numpy() * factor, frame["high"].to_numpy() * factor
    lo, c = frame["low"].to_numpy() * factor, frame["close"].to_numpy() * factor
    v = frame["volume"].to_numpy()
    return [{"t": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), "o": round(float(o[i]), 4), "h": round(float(h[i]), 4),
             "l": round(float(lo[i]), 4), "c": round(float(c[i]), 4), "v": float(v[i]), "n": None,
             "vw": round(float((h[i] + lo[i] + c[i]) / 3), 4)}
            for i, stamp in enumerate(stamps)]


def latest_trades(ctx: Ctx, _: re.Match[str]) -> Reply:
    out: dict[str, JSON] = {}
    for n, symbol in enumerate(_symbols(ctx)):
        mark = ctx.engine.mark(symbol, ctx.at)
        if mark is not None:
            out[symbol] = {"t": ts(ctx.at), "x": "V", "p": float(mark.price), "s": 100, "c": ["@"],
                           "i": n + 1, "z": "B"}
    return 200, {"trades": out}


def latest_quotes(ctx: Ctx, _: re.Match[str]) -> Reply:
    out: dict[str, JSON] = {}
    for symbol in _symbols(ctx):
        mark = ctx.engine.mark(symbol, ctx.at)
        if mark is not None:
            out[symbol] = ctx.render("quote", {"t": ts(ctx.at), "ax": "V", "ap": float(mark.ask), "as": 1, "bx": "V",
                                               "bp": float(mark.bid), "bs": 1, "c": ["R"], "z": "B"})
    return 200, {"quotes": out}


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", r"/v2/stocks/bars", get_bars),
    ("GET", r"/v2/stocks/trades/latest", latest_trades),
    ("GET", r"/v2/stocks/quotes/latest", latest_quotes),
]
