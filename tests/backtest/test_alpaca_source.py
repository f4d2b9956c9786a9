"""The Alpaca history source: raw bar JSON as alpaca-py's RESTClient.get returns it, a fake client, the cache."""

from __future__ import annotations

import stat
from datetime import date

import pandas as pd
import pytest
from alpaca.common.exceptions import APIError

from bot.adapters.history.alpaca_source import AlpacaHistory
from bot.adapters.history.cache import FrameCache
from bot.errors import BrokerUnavailable


def bar(day: str, close: float) -> dict[str, object]:
    return {"t": f"{day}T05:00:00Z", "o": close - 1, "h": close + 1, "l": close - 2, "c": close, "v": 1000,
            "n": 10, "vw": close}


class FakeBars:
    """Serves canned bar JSON like StockHistoricalDataClient.get("/stocks/bars", params), and records the queries."""

    def __init__(self, bars: dict[str, list[dict[str, object]]], error: Exception | None = None) -> None:
        self.bars, self.error, self.requests = bars, error, []

    def get(self, path, data=None):
        assert path == "/stocks/bars"
        self.requests.append(data)
        if self.error is not None:
            raise self.error
        wanted = data["symbols"].split(",")
        return {"bars": {s: b for s, b in self.bars.items() if s in wanted}, "next_page_token": None}


BARS = {"IWM": [bar("2024-01-02", 200.0), bar("2024-01-03", 198.5)], "QQQ": [bar("2024-01-02", 400.0)]}


class TestAlpacaHistory:
    def test_bars_become_price_frames_with_adjusted_closes(self):
        source = AlpacaHistory(FakeBars(BARS), feed="iex")

        frames = source.frames(["IWM", "QQQ"], date(2024, 1, 1), date(2024, 1, 5))

        iwm = frames["IWM"]
        assert list(iwm.index) == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")]
        assert iwm.index.name == "date" and iwm.index.tz is None
        assert iwm["adj_close"].tolist() == iwm["close"].tolist() == [200.0, 198.5]
        assert list(iwm.columns) == ["open", "high", "low", "close", "adj_close", "volume"]

    def test_asks_for_all_adjustments_on_the_configured_feed(self):
        client = FakeBars(BARS)

        AlpacaHistory(client, feed="sip").frames(["IWM"], date(2024, 1, 1), date(2024, 1, 5))

        request = client.requests[0]
        assert request["adjustment"] == "all" and request["feed"] == "sip" and request["timeframe"] == "1Day"

    def test_a_second_read_of_a_covered_range_comes_from_the_cache(self, tmp_path):
        client = FakeBars(BARS)
        cache = FrameCache(tmp_path, tag="alpaca-iex-all")
        AlpacaHistory(client, cache=cache).frames(["IWM", "QQQ"], date(2024, 1, 1), date(2024, 1, 5))

        again = AlpacaHistory(client, cache=cache).frames(["IWM"], date(2024, 1, 2), date(2024, 1, 3))

        assert len(client.requests) == 1
        assert again["IWM"]["close"].tolist() == [200.0, 198.5]
        assert stat.S_IMODE((tmp_path / "IWM.alpaca-iex-all.csv").stat().st_mode) == 0o600

    def test_a_wider_range_refetches_and_extends_the_cached_coverage(self, tmp_path):
        cache = FrameCache(tmp_path, tag="t")
        AlpacaHistory(FakeBars(BARS), cache=cache).frames(["IWM"], date(2024, 1, 2), date(2024, 1, 2))

        AlpacaHistory(FakeBars(BARS), cache=cache).frames(["IWM"], date(2024, 1, 1), date(2024, 1, 5))

        assert cache.coverage("IWM").start == date(2024, 1, 1) and cache.coverage("IWM").end == date(2024, 1, 5)

    def test_a_server_error_is_broker_unavailable(self):
        error = APIError('{"message": "busy"}', http_error=type("E", (), {"response": type("R", (), {
            "status_code": 503})()})())

        with pytest.raises(BrokerUnavailable, match="503"):
            AlpacaHistory(FakeBars(BARS, error=error)).frames(["IWM"], date(2024, 1, 1), date(2024, 1, 5))
