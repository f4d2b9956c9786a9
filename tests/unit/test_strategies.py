"""Strategies decide what to hold: the pair (short or inverse hedge, optional gate), overlay, replica."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from bot.config import parse_config, strategy_from
from bot.core.domain import Symbol, Vehicle
from bot.errors import ConfigError, DataError
from strategies import STRATEGIES, Hedge, OverlayStrategy, PairStrategy, ReplicaStrategy
from strategies.base import MarketView
from strategies.indicators import trend_state

TODAY = date(2026, 11, 2)
MARKET = MarketView(as_of=TODAY, prices={})
IWM, QQQ, PSQ, SQQQ, TNA = (Symbol(s) for s in ("IWM", "QQQ", "PSQ", "SQQQ", "TNA"))


def closes(*, iwm_return: float, qqq_return: float, days: int = 253, end: date = TODAY) -> pd.DataFrame:
    """Smooth daily closes over `days` sessions ending at `end`, returning the given totals."""
    index = pd.bdate_range(end=pd.Timestamp(end), periods=days)
    steps = np.linspace(0.0, 1.0, days)
    return pd.DataFrame(
        {"IWM": 200 * (1 + iwm_return) ** steps, "QQQ": 480 * (1 + qqq_return) ** steps}, index=index
    )


class TestPairStrategy:
    def test_default_is_long_iwm_short_qqq_half_and_half(self) -> None:
        pair = PairStrategy()

        assert pair.target_weights(MARKET).weights == {IWM: Decimal("0.5"), QQQ: Decimal("-0.5")}
        assert pair.universe == frozenset({IWM, QQQ})
        assert pair.needs_history_days == 0

    def test_gross_scales_both_legs(self) -> None:
        pair = strategy_from("pair", {"gross": "1.5"})

        assert pair.target_weights(MARKET).weights == {IWM: Decimal("0.75"), QQQ: Decimal("-0.75")}

    def test_an_inverse_hedge_holds_psq_long_for_the_same_qqq_exposure(self) -> None:
        """PSQ is QQQ x -1, so +0.5 PSQ is -0.5 QQQ; no short sale, no borrow."""
        pair = strategy_from("pair", {"hedge": "inverse"})

        assert pair.target_weights(MARKET).weights == {IWM: Decimal("0.5"), PSQ: Decimal("0.5")}
        assert pair.universe == frozenset({IWM, PSQ})
        assert pair.vehicles[PSQ] == Vehicle(PSQ, QQQ, Decimal(-1))

    def test_a_triple_inverse_hedge_holds_a_third_as_much(self) -> None:
        pair = strategy_from("pair", {"hedge": "inverse", "inverse": "SQQQ", "inverse_multiple": -3})

        weight = pair.target_weights(MARKET).weights[SQQQ]

        assert weight * -3 == pytest.approx(Decimal("-0.5"), abs=Decimal("1e-20"))

    def test_every_universe_symbol_has_a_vehicle(self) -> None:
        for hedge in ("short", "inverse"):
            pair = strategy_from("pair", {"hedge": hedge})

            assert set(pair.vehicles) == pair.universe

    def test_the_same_symbol_on_both_legs_is_refused(self) -> None:
        with pytest.raises(ValueError, match="QQQ is both long leg and short leg"):
            PairStrategy(long_leg=QQQ)

    def test_an_inverse_fund_with_a_positive_multiple_is_refused(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            PairStrategy(hedge=Hedge.INVERSE, inverse=TNA, inverse_multiple=Decimal(3))
        with pytest.raises(ValueError, match="strategy pair: inverse_multiple: Input should be less than 0, got 3"):
            strategy_from("pair", {"hedge": "inverse", "inverse": "TNA", "inverse_multiple": 3})

    def test_zero_gross_is_refused(self) -> None:
        with pytest.raises(ValueError, match="gross"):
            strategy_from("pair", {"gross": 0})


class TestPairResearchGate:
    GATED = {"max_trailing_spread": "-0.30"}

    def test_the_gate_asks_for_a_year_of_closes(self) -> None:
        assert strategy_from("pair", self.GATED).needs_history_days == 253

    def test_holds_the_pair_after_small_caps_lagged_by_more_than_the_threshold(self) -> None:
        """IWM +5% against QQQ +40% over the year: a 35-point lag, past the -30 threshold."""
        pair = strategy_from("pair", self.GATED)
        market = MarketView(TODAY, {}, closes(iwm_return=0.05, qqq_return=0.40))

        assert pair.target_weights(market).weights == {IWM: Decimal("0.5"), QQQ: Decimal("-0.5")}

    def test_targets_flat_while_the_spread_is_above_the_threshold(self) -> None:
        """IWM +10% against QQQ +20%: only a 10-point lag, so no position."""
        pair = strategy_from("pair", self.GATED)
        market = MarketView(TODAY, {}, closes(iwm_return=0.10, qqq_return=0.20))

        assert pair.target_weights(market).weights == {IWM: Decimal(0), QQQ: Decimal(0)}

    def test_reads_the_underlyings_even_when_hedged_with_psq(self) -> None:
        pair = strategy_from("pair", {**self.GATED, "hedge": "inverse"})
        market = MarketView(TODAY, {}, closes(iwm_return=0.10, qqq_return=0.20))

        assert pair.target_weights(market).weights == {IWM: Decimal(0), PSQ: Decimal(0)}

    def test_ignores_closes_after_as_of(self) -> None:
        """A strategy must never see tomorrow: later rows (here a crash in QQQ) are dropped."""
        history = closes(iwm_return=0.05, qqq_return=0.40, days=260, end=date(2026, 11, 11))
        history.loc[history.index > pd.Timestamp(TODAY), "QQQ"] = 1.0
        market = MarketView(TODAY, {}, history)

        assert strategy_from("pair", self.GATED).target_weights(market).weights[IWM] == Decimal("0.5")

    def test_too_little_history_is_a_data_error(self) -> None:
        market = MarketView(TODAY, {}, closes(iwm_return=0.0, qqq_return=0.0, days=100))

        with pytest.raises(DataError, match="253 closes"):
            strategy_from("pair", self.GATED).target_weights(market)

    def test_no_history_at_all_is_a_data_error(self) -> None:
        with pytest.raises(DataError, match="daily closes"):
            strategy_from("pair", self.GATED).target_weights(MARKET)


def trending(*, daily: float, days: int = 600, end: date = TODAY, seed: int = 4) -> pd.DataFrame:
    """IWM drifting by `daily` a session with small noise (QQQ flat), `days` sessions ending at `end`."""
    index = pd.bdate_range(end=pd.Timestamp(end), periods=days)
    noise = np.random.default_rng(seed).normal(0.0, 0.002, days)
    return pd.DataFrame({"IWM": 200 * np.exp(np.cumsum(daily + noise)), "QQQ": 480.0}, index=index)


class TestPairTrendGate:
    def test_the_trend_gate_asks_for_two_years_of_closes_of_the_long_leg(self) -> None:
        pair = strategy_from("pair", {"min_trend_score": "3"})

        assert pair.needs_history_days == 520
        assert pair.history_symbols == frozenset({IWM})

    def test_holds_the_pair_while_all_three_trend_signs_read_up(self) -> None:
        """A steady climb: above the 50-week average, MACD over its signal, RSI over 50."""
        market = MarketView(TODAY, {}, trending(daily=0.002))

        assert strategy_from("pair", {"min_trend_score": 3}).target_weights(market).weights[IWM] == Decimal("0.5")

    def test_targets_flat_in_a_downtrend_when_two_signs_are_asked_for(self) -> None:
        """A steady fall: below the average and RSI under 50; only the slowing MACD reads up (1 of 3)."""
        market = MarketView(TODAY, {}, trending(daily=-0.002))

        assert strategy_from("pair", {"min_trend_score": 2}).target_weights(market).weights[IWM] == Decimal(0)
        assert strategy_from("pair", {"min_trend_score": 1}).target_weights(market).weights[IWM] == Decimal("0.5")

    def test_both_gates_must_be_open(self) -> None:
        """An uptrend, but IWM is ahead of QQQ over the year: the spread gate keeps the book flat."""
        pair = strategy_from("pair", {"min_trend_score": 3, "max_trailing_spread": "-0.30"})

        assert pair.target_weights(MarketView(TODAY, {}, trending(daily=0.002))).weights[IWM] == Decimal(0)

    def test_a_score_outside_one_to_three_is_refused(self) -> None:
        with pytest.raises(ValueError, match="min_trend_score must be 1, 2 or 3"):
            PairStrategy(min_trend_score=4)
        with pytest.raises(ValueError, match="min_trend_score: Input should be less than or equal to 3, got 4"):
            strategy_from("pair", {"min_trend_score": 4})

    def test_the_trend_reads_as_pandas_reads_weekly_closes_ewm_and_wilder_rsi(self) -> None:
        """The numpy trend equals the pandas recipe (W-FRI last close, rolling 50, ewm spans 12/26/9, RSI 14)."""
        close = trending(daily=0.0003, days=520, seed=9)["IWM"]
        weekly = close.resample("W-FRI").last().dropna()
        macd = weekly.ewm(span=12, adjust=False).mean() - weekly.ewm(span=26, adjust=False).mean()
        change = close.diff()
        gain = change.clip(lower=0).ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
        loss = (-change.clip(upper=0)).ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()

        state = trend_state(close)

        assert state.ma_50w == pytest.approx(weekly.rolling(50).mean().iloc[-1], rel=1e-12)
        assert state.macd == pytest.approx(macd.iloc[-1], rel=1e-9)
        assert state.macd_signal == pytest.approx(macd.ewm(span=9, adjust=False).mean().iloc[-1], rel=1e-9)
        assert state.rsi_14 == pytest.approx(100 - 100 / (1 + gain.iloc[-1] / loss.iloc[-1]), rel=1e-9)

    def test_ignores_closes_after_as_of(self) -> None:
        """A crash after as_of cannot close the gate on as_of."""
        history = trending(daily=0.002, end=date(2026, 12, 31))
        history.loc[history.index > pd.Timestamp(TODAY), "IWM"] = 1.0

        weights = strategy_from("pair", {"min_trend_score": 3}).target_weights(MarketView(TODAY, {}, history))

        assert weights.weights[IWM] == Decimal("0.5")


class TestOverlayStrategy:
    def test_default_is_spy_core_with_upro_tna_and_sqqq_overlay(self) -> None:
        overlay = OverlayStrategy()

        assert overlay.target_weights(MARKET).weights == {
            Symbol("SPY"): Decimal("0.70"),
            Symbol("UPRO"): Decimal("0.10"),
            TNA: Decimal("0.10"),
            SQQQ: Decimal("0.10"),
        }
        assert overlay.vehicles[SQQQ] == Vehicle(SQQQ, QQQ, Decimal(-3))

    def test_weights_are_configurable_from_floats_and_strings(self) -> None:
        overlay = strategy_from("overlay", {"weights": {"SPY": 0.8, "TNA": "0.2"}})

        assert overlay.target_weights(MARKET).weights == {Symbol("SPY"): Decimal("0.8"), TNA: Decimal("0.2")}

    def test_an_unknown_fund_must_be_declared_with_its_multiple(self) -> None:
        with pytest.raises(ValueError, match="SPXL"):
            strategy_from("overlay", {"weights": {"SPY": "0.8", "SPXL": "0.2"}})

        declared = strategy_from(
            "overlay",
            {"weights": {"SPY": "0.8", "SPXL": "0.2"}, "vehicle_specs": {"SPXL": {"underlying": "SPY", "multiple": 3}}},
        )

        assert declared.vehicles[Symbol("SPXL")] == Vehicle(Symbol("SPXL"), Symbol("SPY"), Decimal(3))

    def test_non_finite_weights_are_refused(self) -> None:
        with pytest.raises(ValueError, match="finite"):
            strategy_from("overlay", {"weights": {"SPY": float("nan")}})

    def test_all_zero_weights_are_refused(self) -> None:
        with pytest.raises(ValueError, match="gross"):
            strategy_from("overlay", {"weights": {"SPY": "0"}})


class TestReplicaStrategy:
    def test_default_is_a_third_in_tna_and_the_rest_cash(self) -> None:
        replica = ReplicaStrategy()

        assert replica.target_weights(MARKET).weights == {TNA: Decimal("0.33")}
        assert replica.vehicles == {TNA: Vehicle(TNA, IWM, Decimal(3))}

    def test_the_weight_is_configurable(self) -> None:
        replica = strategy_from("replica", {"weight": 0.5})

        assert replica.target_weights(MARKET).weights == {TNA: Decimal("0.5")}

    def test_a_weight_above_one_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at most 1"):
            ReplicaStrategy(weight=Decimal("1.2"))
        with pytest.raises(ValueError, match="replica: weight: Input should be less than or equal to 1"):
            strategy_from("replica", {"weight": "1.2"})


class TestRegistry:
    def test_names_every_strategy(self) -> None:
        assert dict(STRATEGIES) == {"pair": PairStrategy, "overlay": OverlayStrategy, "replica": ReplicaStrategy}

    def test_each_strategy_carries_its_registry_name(self) -> None:
        for name in STRATEGIES:
            assert strategy_from(name, {}).name == name

    def test_an_unknown_strategy_is_refused_by_name(self) -> None:
        with pytest.raises(ValueError, match="'momentum'"):
            strategy_from("momentum", {})

    def test_an_unknown_parameter_is_refused_by_name(self) -> None:
        with pytest.raises(ValueError, match="leverage"):
            strategy_from("pair", {"leverage": 2})

    def test_a_bad_hedge_is_refused(self) -> None:
        with pytest.raises(ValueError, match="hedge"):
            strategy_from("pair", {"hedge": "options"})

    def test_a_non_number_is_refused(self) -> None:
        with pytest.raises(ValueError, match="strategy pair: gross: Input should be a valid decimal, got 'lots'"):
            strategy_from("pair", {"gross": "lots"})

    def test_symbols_are_parameters(self) -> None:
        pair = strategy_from("pair", {"long_leg": "iwn", "short_leg": "QQQM"})

        assert pair.universe == frozenset({Symbol("IWN"), Symbol("QQQM")})


class TestOneValidation:
    """config.yaml's strategies.<name> and --param/--sweep values go through the same section, once."""

    @pytest.mark.parametrize("params", [
        {"gross": "lots"}, {"gross": 0}, {"lookback_days": 10}, {"hedge": "options"}, {"min_trend_score": 4},
        {"long_leg": ""}, {"long_leg": "QQQ"},
    ])
    def test_a_bad_value_reads_the_same_in_config_and_on_the_command_line(self, params: dict[str, object]) -> None:
        with pytest.raises(ValueError) as on_the_line:
            strategy_from("pair", params)
        with pytest.raises(ConfigError) as in_config:
            parse_config({"mode": "local", "strategies": {"pair": params}})

        said = str(on_the_line.value).removeprefix("strategy pair: ").removeprefix("parameters: ")
        assert said in str(in_config.value).removeprefix("config.yaml: strategies.pair")

    def test_the_section_holds_the_strategys_own_types_and_builds_it(self) -> None:
        config = parse_config({"mode": "local", "strategies": {"pair": {
            "long_leg": " iwm ", "hedge": "INVERSE", "gross": 1.5, "min_trend_score": "none"}}})
        section = config.strategy_section()

        assert (section.long_leg, section.hedge, section.gross) == (IWM, Hedge.INVERSE, Decimal("1.5"))
        assert section.min_trend_score is None
        assert config.build_strategy() == PairStrategy(hedge=Hedge.INVERSE, gross=Decimal("1.5"))
        assert strategy_from("pair", config.strategy_params()) == config.build_strategy()

    def test_declared_vehicles_become_the_overlays_vehicles(self) -> None:
        config = parse_config({"mode": "local", "strategy": "overlay", "strategies": {"overlay": {
            "weights": {"spy": 0.8, "spxl": "0.2"}, "vehicle_specs": {"spxl": {"underlying": "spy", "multiple": 3}}}}})

        built = config.build_strategy()

        assert built.vehicles[Symbol("SPXL")] == Vehicle(Symbol("SPXL"), Symbol("SPY"), Decimal(3))
        assert built.target_weights(MARKET).weights == {Symbol("SPY"): Decimal("0.8"), Symbol("SPXL"): Decimal("0.2")}
