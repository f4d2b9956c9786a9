"""The Alpaca history source through real alpaca-py models, a fake client and the on-disk cache."""

from __future__ import annotations

import stat
from datetime import date

import pandas as pd
import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.enums import Adjustment
from alpaca.data.models import BarSet

from bot.errors import BrokerUnavailable
from bot.history.alpaca_source import AlpacaHistory
from bot.history.cache import FrameCache


def bar(day: str, close: float) -> dict[str, object]:
    return {"t": f"{day}T05:00:00Z", "o": close - 1, "h": close + 1, "l": close - 2, "c": close, "v": 1000,
            "n": 10, "vw": close}


class FakeBars:
    """Serves canned bars like StockHistoricalDataClient.get_stock_bars, and records the requests."""

    def __init__(self, bars: dict[str, list[dict[str, object]]], error: Exception | None = None) -> None:
        self.bars, self.error, self.requests = bars, error, []

    def get_stock_bars(self, request_params):
        self.requests.append(request_params)
        if self.error is not None:
            raise self.error
        wanted = request_params.symbol_or_symbols
        return BarSet({s: b for s, b in self.bars.items() if s in wanted})


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
        assert request.adjustment == Adjustment.ALL and request.feed.value == "sip"

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
