"""Plain-value builders with defaults for the unit tests: a flat $100k account, IWM 200, QQQ 480."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.core.domain import (
    AccountSnapshot,
    AccountState,
    AssetInfo,
    MarketClock,
    OrderIntent,
    Position,
    Quote,
    Symbol,
    TargetWeights,
    Vehicle,
)
from bot.core.plan import PlanPolicy

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York
CLOSE = datetime(2026, 11, 2, 21, 0, tzinfo=UTC)  # 16:00 in New York
DEFAULT_PRICES = {"IWM": "200", "QQQ": "480"}

PAIR_VEHICLES: Mapping[Symbol, Vehicle] = {
    Symbol("IWM"): Vehicle(Symbol("IWM"), Symbol("IWM"), Decimal(1)),
    Symbol("QQQ"): Vehicle(Symbol("QQQ"), Symbol("QQQ"), Decimal(1)),
    Symbol("PSQ"): Vehicle(Symbol("PSQ"), Symbol("QQQ"), Decimal(-1)),
    Symbol("SQQQ"): Vehicle(Symbol("SQQQ"), Symbol("QQQ"), Decimal(-3)),
    Symbol("TNA"): Vehicle(Symbol("TNA"), Symbol("IWM"), Decimal(3)),
    Symbol("SPY"): Vehicle(Symbol("SPY"), Symbol("SPY"), Decimal(1)),
    Symbol("UPRO"): Vehicle(Symbol("UPRO"), Symbol("SPY"), Decimal(3)),
}


def weights(**by_symbol: str) -> TargetWeights:
    return TargetWeights({Symbol(sym): Decimal(w) for sym, w in by_symbol.items()})


def quote(symbol: str, *, bid: str, ask: str, as_of: datetime = NOW) -> Quote:
    return Quote(Symbol(symbol), Decimal(bid), Decimal(ask), as_of)


def account(**flags: bool | str) -> AccountState:
    status = str(flags.pop("status", "ACTIVE"))
    return AccountState("PA123", status, **flags)  # type: ignore[arg-type]


def snapshot(
    equity: str = "100000",
    prices: Mapping[str, str] | None = None,
    positions: Mapping[str, str | int] | None = None,
    *,
    cash: str | None = None,
    buying_power: str | None = None,
    spread: str = "0",
    quote_age_seconds: int = 0,
    state: AccountState | None = None,
    market_open: bool = True,
    assets: Mapping[str, AssetInfo] | None = None,
    as_of: datetime = NOW,
) -> AccountSnapshot:
    """Quotes straddle each price by `spread`, so every mid is exactly the price given."""
    prices = DEFAULT_PRICES if prices is None else prices
    assets = {s: AssetInfo(Symbol(s)) for s in prices} if assets is None else assets
    held = {Symbol(s): Decimal(q) for s, q in (positions or {}).items()}
    half = Decimal(spread) / 2
    quote_time = as_of - timedelta(seconds=quote_age_seconds)
    quotes = {
        Symbol(s): Quote(Symbol(s), Decimal(p) - half, Decimal(p) + half, quote_time) for s, p in prices.items()
    }
    position_values = {s: q * Decimal(prices[s]) for s, q in held.items()}
    return AccountSnapshot(
        as_of=as_of,
        equity=Decimal(equity),
        cash=Decimal(equity) - sum(position_values.values(), Decimal(0)) if cash is None else Decimal(cash),
        buying_power=Decimal(equity) * 2 if buying_power is None else Decimal(buying_power),
        positions={s: Position(s, q, position_values[s], Decimal(prices[s])) for s, q in held.items()},
        quotes=quotes,
        account=state if state is not None else account(),
        clock=MarketClock(as_of, market_open, as_of + timedelta(days=1), CLOSE),
        assets={Symbol(s): a for s, a in assets.items()},
    )


def policy(min_trade_usd: str = "100", *, fractional_longs: bool = False, cash_reserve: str = "0") -> PlanPolicy:
    return PlanPolicy(Decimal(min_trade_usd), fractional_longs, Decimal(cash_reserve))


def orders_of(orders: tuple[OrderIntent, ...]) -> list[tuple[str, str, Decimal | int]]:
    """(symbol, bto/btc/sto/stc, qty) in execution order: how the tests compare plans."""
    return [(o.symbol, o.intent.short_code, o.qty) for o in orders]


def mids(snap: AccountSnapshot) -> dict[Symbol, Decimal]:
    return {sym: snap.price(sym) for sym in snap.quotes}
