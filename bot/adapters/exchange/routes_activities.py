"""GET /v2/account/activities[/{type}]: FILLs and the non-trade activities, filtered and paged.

Every type when unfiltered; `activity_types=A,B` or the path picks types, the filter-only TRANS standing for
CSD and CSW and MISC for "all types except those in TRANS, DIV, or FILL" (Alpaca's documented groups; TRANS
and MISC are never returned as a type). SSO and SSP (the former
spin-off and split codes), CORR, SEG and DTCS can come back in history but are refused as filter values
(Alpaca changelog 2026-11-06). `after`/`until`/`date` compare a FILL's transaction time and a non-trade
activity's date (a bare date as a whole day); `direction` (default desc), `page_size` (at most 100) and
`page_token` (an activity id).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from bot.adapters.exchange.activity_store import ActivityQuery
from bot.adapters.exchange.models import unprocessable
from bot.adapters.exchange.routes_trading import Ctx, Handler, Reply, _day, _int, _when

RESPONSE_ONLY_TYPES = frozenset({"SSO", "SSP", "CORR", "SEG", "DTCS"})
PAGE_SIZE = 100


def _kinds(ctx: Ctx, m: re.Match[str]) -> frozenset[str] | None:
    raw = m.groupdict().get("type") or ctx.query.get("activity_types") or ""
    kinds = frozenset(k.strip().upper() for k in raw.split(",") if k.strip())
    refused = sorted(kinds & RESPONSE_ONLY_TYPES)
    if refused:
        raise unprocessable(f"invalid activity type {', '.join(refused)}: returned in history but not accepted "
                            "as a filter (SPLIT and SPIN replace SSP and SSO)")
    return kinds or None


def _after(raw: str | None) -> datetime | None:
    """A bare date means after that whole day, for fills as for non-trade activities."""
    if raw and len(raw.strip()) == len("YYYY-MM-DD"):
        day = _day(raw.strip())
        assert day is not None
        return datetime.combine(day + timedelta(days=1), time(0), UTC) - timedelta(microseconds=1)
    return _when(raw)


def list_activities(ctx: Ctx, m: re.Match[str]) -> Reply:
    q = ctx.query
    query = ActivityQuery(kinds=_kinds(ctx, m), after=_after(q.get("after")), until=_when(q.get("until")),
                          on=_day(q.get("date")), ascending=q.get("direction") == "asc",
                          page_token=q.get("page_token") or None,
                          limit=max(1, min(_int(q.get("page_size"), PAGE_SIZE), PAGE_SIZE)))
    return 200, [ctx.render("activity", a) for a in ctx.engine.store.activities_page(query)]


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", r"/v2/account/activities", list_activities),
    ("GET", r"/v2/account/activities/(?P<type>[A-Za-z_]+)", list_activities),
]
