"""The client order id is a value: it formats, parses back, knows its decision and refuses Alpaca's limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.domain import Symbol
from bot.core.orderkey import OrderKey

decisions = st.sampled_from(["2026Q4", "2026-11", "2027", "d20261202", "a12"])
fingerprints = st.text(alphabet="0123456789abcdef", min_size=6, max_size=6)
symbols = st.sampled_from(["IWM", "QQQ", "SQQQ", "BRK.B", "UPRO"])


@given(decisions, fingerprints, symbols, st.sampled_from(["bto", "btc", "sto", "stc"]), st.integers(1, 999))
def test_an_id_parses_back_to_the_key_that_made_it(decision: str, fp: str, sym: str, code: str, n: int) -> None:
    key = OrderKey(f"{decision}-{fp}", Symbol(sym), code, n)

    assert OrderKey.parse(str(key)) == key
    assert key.decision_key == decision


def test_only_calendar_decisions_have_a_period() -> None:
    assert OrderKey.parse("pb-2026Q4-abcdef-IWM-bto-1").calendar_period == "2026Q4"  # type: ignore[union-attr]
    assert OrderKey.parse("pb-2026-11-abcdef-IWM-bto-1").calendar_period == "2026-11"  # type: ignore[union-attr]
    assert OrderKey.parse("pb-d20261202-abcdef-IWM-bto-1").calendar_period is None  # type: ignore[union-attr]


@pytest.mark.parametrize(("decision", "kind"), [("2026Q4", "calendar"), ("2027", "calendar"), ("d20261202", "drift"),
                                              ("a12", "accepted")])
def test_a_key_knows_the_kind_of_decision_it_names(decision: str, kind: str) -> None:
    assert OrderKey(f"{decision}-abcdef", Symbol("IWM"), "bto").decision_kind == kind


@pytest.mark.parametrize("coid", ["manual-1", "pb-", "pb-2026Q4-abcdef-IWM-xyz-1", "PB-2026Q4-abcdef-IWM-bto-1"])
def test_an_id_pairbot_did_not_make_parses_to_none(coid: str) -> None:
    assert OrderKey.parse(coid) is None


def test_a_key_longer_than_alpacas_48_characters_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than 48"):
        OrderKey("2026Q4-abcdef" + "x" * 30, Symbol("IWM"), "bto", 1)
