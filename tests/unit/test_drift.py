"""Drift is measured the way the trade is meant: per leg, and for the book in effective exposure."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.domain import Symbol
from bot.core.drift import DriftBands, drift_breaches, measure_drift

from .builders import PAIR_VEHICLES, snapshot, weights

OVERLAY_PRICES = {"SPY": "500", "UPRO": "80", "TNA": "40", "SQQQ": "10"}
IWM, QQQ, SPY = Symbol("IWM"), Symbol("QQQ"), Symbol("SPY")


class TestMeasureDrift:
    def test_leg_weights_are_signed_market_value_over_equity(self) -> None:
        """250 IWM at $200 is 50% of $100k; 100 QQQ short at $480 is -48%."""
        snap = snapshot(positions={"IWM": 250, "QQQ": -100})

        report = measure_drift(weights(IWM="0.5", QQQ="-0.5"), snap, PAIR_VEHICLES)

        assert [(leg.symbol, leg.current, leg.drift) for leg in report.legs] == [
            ("IWM", Decimal("0.5"), Decimal("0")),
            ("QQQ", Decimal("-0.48"), Decimal("0.02")),
        ]
        assert report.max_abs_leg_drift == Decimal("0.02")

    def test_ten_percent_sqqq_counts_as_minus_thirty_percent_qqq(self) -> None:
        """A -3x fund held long is a short on its index, three times over."""
        snap = snapshot(prices=OVERLAY_PRICES, positions={"SPY": 140, "UPRO": 125, "TNA": 250, "SQQQ": 1000})

        report = measure_drift(weights(SPY="0.7", UPRO="0.1", TNA="0.1", SQQQ="0.1"), snap, PAIR_VEHICLES)

        assert report.current.effective == {IWM: Decimal("0.3"), QQQ: Decimal("-0.3"), SPY: Decimal("1.0")}
        assert report.target.effective == report.current.effective
        assert report.current.gross == Decimal("1.0")
        assert report.current.net == Decimal("1.0")

    def test_an_inverse_hedge_reads_as_a_balanced_pair(self) -> None:
        """Long IWM and long PSQ: gross 1.0 and net 1.0 in capital, but long/short 1.0 in exposure."""
        snap = snapshot(prices={"IWM": "200", "PSQ": "25"}, positions={"IWM": 250, "PSQ": 2000})

        report = measure_drift(weights(IWM="0.5", PSQ="0.5"), snap, PAIR_VEHICLES)

        assert report.current.effective == {IWM: Decimal("0.5"), QQQ: Decimal("-0.5")}
        assert report.current.long_short_ratio == Decimal(1)
        assert (report.current.gross, report.current.net) == (Decimal("1"), Decimal("1"))

    def test_a_book_without_a_short_has_no_long_short_ratio(self) -> None:
        report = measure_drift(weights(IWM="0.5"), snapshot(), PAIR_VEHICLES)

        assert report.target.long_short_ratio is None

    def test_a_held_symbol_the_targets_omit_has_target_zero(self) -> None:
        """Something held outside the strategy's book is drift, not invisible."""
        report = measure_drift(weights(IWM="0.5"), snapshot(positions={"QQQ": -10}), PAIR_VEHICLES)

        assert [(leg.symbol, leg.target) for leg in report.legs] == [(IWM, Decimal("0.5")), (QQQ, Decimal(0))]

    def test_weights_need_positive_equity(self) -> None:
        with pytest.raises(ValueError, match="equity"):
            measure_drift(weights(IWM="0.5"), snapshot("0"), PAIR_VEHICLES)


class TestDriftBreaches:
    def test_a_leg_outside_its_band_is_reported_in_words(self) -> None:
        """The reason names the leg, both weights, the drift and the band."""
        snap = snapshot("100000", {"IWM": "172.48", "QQQ": "480"}, {"IWM": 250, "QQQ": -104})
        report = measure_drift(weights(IWM="0.5", QQQ="-0.5"), snap, PAIR_VEHICLES)

        reasons = drift_breaches(report, DriftBands(leg=Decimal("0.05")))

        assert reasons == ("IWM weight 43.12% vs target 50.00% (drift -6.88 pts > band 5.00 pts)",)

    def test_drift_inside_every_band_is_no_breach(self) -> None:
        snap = snapshot(positions={"IWM": 250, "QQQ": -104})
        report = measure_drift(weights(IWM="0.5", QQQ="-0.5"), snap, PAIR_VEHICLES)

        bands = DriftBands(leg=Decimal("0.01"), gross=Decimal("0.01"), net=Decimal("0.01"), effective=Decimal("0.01"))

        assert drift_breaches(report, bands) == ()

    def test_book_bands_catch_drift_that_no_single_leg_shows(self) -> None:
        """Both legs 4% light: each inside a 5% leg band, gross 8% off and beyond a 5% gross band."""
        snap = snapshot("100000", {"IWM": "200", "QQQ": "500"}, {"IWM": 230, "QQQ": -92})
        report = measure_drift(weights(IWM="0.5", QQQ="-0.5"), snap, PAIR_VEHICLES)

        reasons = drift_breaches(report, DriftBands(leg=Decimal("0.05"), gross=Decimal("0.05")))

        assert reasons == ("gross 92.00% vs target 100.00% (drift -8.00 pts > band 5.00 pts)",)

    def test_effective_band_sees_an_overlay_fund_drifting(self) -> None:
        """SQQQ at 12% instead of 10% moves QQQ exposure by 6 points."""
        snap = snapshot(prices=OVERLAY_PRICES, positions={"SQQQ": 1200})
        report = measure_drift(weights(SQQQ="0.1"), snap, PAIR_VEHICLES)

        reasons = drift_breaches(report, DriftBands(leg=Decimal("0.05"), effective=Decimal("0.05")))

        assert reasons == ("effective QQQ -36.00% vs target -30.00% (drift -6.00 pts > band 5.00 pts)",)

    def test_net_band(self) -> None:
        snap = snapshot(positions={"IWM": 250})
        report = measure_drift(weights(IWM="0.5", QQQ="-0.5"), snap, PAIR_VEHICLES)

        reasons = drift_breaches(report, DriftBands(leg=Decimal("1"), net=Decimal("0.1")))

        assert reasons == ("net 50.00% vs target 0.00% (drift +50.00 pts > band 10.00 pts)",)

    def test_a_negative_band_is_refused(self) -> None:
        with pytest.raises(ValueError, match="leg"):
            DriftBands(leg=Decimal("-0.01"))
