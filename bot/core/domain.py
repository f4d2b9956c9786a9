"""Domain values shared by the pure core, the strategies and the shell: exact, frozen, tz-aware."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import NewType
from zoneinfo import ZoneInfo

Symbol = NewType("Symbol", str)

ZERO = Decimal(0)
ONE = Decimal(1)
NEW_YORK = ZoneInfo("America/New_York")  # the market's zone: sessions, windows and period keys are New York dates
MAX_CLIENT_ORDER_ID_LEN = 48  # Alpaca's limit
OUR_PREFIX = "pb-"  # every order pairbot places has a client order id that starts so; nothing else is ours


def is_ours(client_order_id: str) -> bool:
    return client_order_id.startswith(OUR_PREFIX)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class PositionIntent(StrEnum):
    """Alpaca's position_intent: what an order does to the position's sign."""

    BUY_TO_OPEN = "buy_to_open"
    BUY_TO_CLOSE = "buy_to_close"
    SELL_TO_OPEN = "sell_to_open"
    SELL_TO_CLOSE = "sell_to_close"

    @property
    def side(self) -> Side:
        return Side.BUY if self.value.startswith("buy") else Side.SELL

    @property
    def is_reduction(self) -> bool:
        return self.value.endswith("close")

    @property
    def short_code(self) -> str:
        """Three letters for client order ids: bto, btc, sto, stc."""
        a, _, b = self.value.split("_")
        return a[0] + "t" + b[0]


def _require_finite(value: Decimal, what: str) -> None:
    if not value.is_finite():
        raise ValueError(f"{what} must be finite, got {value}")


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A tradable fund and the exposure it gives: PSQ = QQQ x -1, TNA = IWM x 3."""

    symbol: Symbol
    underlying: Symbol
    multiple: Decimal = ONE

    def __post_init__(self) -> None:
        _require_finite(self.multiple, "multiple")
        if self.multiple == 0:
            raise ValueError(f"{self.symbol}: multiple must not be zero")


@dataclass(frozen=True, slots=True)
class TargetWeights:
    """Signed fractions of equity per symbol; the rest is cash."""

    weights: Mapping[Symbol, Decimal]

    def __post_init__(self) -> None:
        for sym, w in self.weights.items():
            if not isinstance(w, Decimal):
                raise TypeError(f"{sym}: weight must be a Decimal, got {type(w).__name__}")
            _require_finite(w, f"weight of {sym}")

    @classmethod
    def from_floats(cls, raw: Mapping[str, float]) -> TargetWeights:
        """The one door for floats; NaN and infinities raise."""
        out: dict[Symbol, Decimal] = {}
        for sym, w in raw.items():
            if not math.isfinite(w):
                raise ValueError(f"{sym}: weight must be finite, got {w}")
            out[Symbol(sym)] = Decimal(repr(float(w)))
        return cls(out)

    @property
    def gross(self) -> Decimal:
        return sum((abs(w) for w in self.weights.values()), ZERO)

    @property
    def net(self) -> Decimal:
        return sum(self.weights.values(), ZERO)

    def get(self, symbol: Symbol) -> Decimal:
        return self.weights.get(symbol, ZERO)


@dataclass(frozen=True, slots=True)
class Quote:
    symbol: Symbol
    bid: Decimal
    ask: Decimal
    as_of: datetime

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class Position:
    symbol: Symbol
    qty: Decimal  # signed shares; negative is short (the only sign convention)
    market_value: Decimal  # signed like qty
    avg_entry_price: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class AssetInfo:
    symbol: Symbol
    tradable: bool = True
    shortable: bool = True
    easy_to_borrow: bool = True
    fractionable: bool = True


@dataclass(frozen=True, slots=True)
class AccountState:
    """The account's flags as the broker reports them."""

    account_number: str
    status: str  # "ACTIVE" when all is well
    trading_blocked: bool = False
    account_blocked: bool = False
    trade_suspended_by_user: bool = False
    shorting_enabled: bool = True

    @property
    def is_active(self) -> bool:
        return self.status == "ACTIVE"


@dataclass(frozen=True, slots=True)
class MarketClock:
    as_of: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """Everything the core may know about the account, read at one instant."""

    as_of: datetime  # tz-aware UTC, supplied by the shell
    equity: Decimal
    cash: Decimal
    buying_power: Decimal
    positions: Mapping[Symbol, Position]
    quotes: Mapping[Symbol, Quote]
    account: AccountState
    clock: MarketClock
    assets: Mapping[Symbol, AssetInfo] = field(default_factory=dict)
    other_positions: Mapping[Symbol, Position] = field(default_factory=dict)  # the user's, never traded

    def qty(self, symbol: Symbol) -> Decimal:
        pos = self.positions.get(symbol)
        return pos.qty if pos is not None else ZERO

    def price(self, symbol: Symbol) -> Decimal:
        """The mark used for weights and sizing: the quote's mid."""
        return self.quotes[symbol].mid


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """A market order we mean to send. The sign lives in the intent; qty is positive."""

    symbol: Symbol
    intent: PositionIntent
    qty: Decimal
    client_order_id: str
    reference_price: Decimal  # the price the decision used (for implementation shortfall)

    def __post_init__(self) -> None:
        _require_finite(self.qty, "qty")
        if self.qty <= 0:
            raise ValueError(f"{self.symbol}: qty must be positive, got {self.qty}")
        if self.intent in (PositionIntent.SELL_TO_OPEN,) and self.qty != self.qty.to_integral_value():
            raise ValueError(f"{self.symbol}: a short sale must be whole shares, got {self.qty}")
        if len(self.client_order_id) > MAX_CLIENT_ORDER_ID_LEN:
            raise ValueError(f"client_order_id over {MAX_CLIENT_ORDER_ID_LEN} characters: {self.client_order_id}")

    @property
    def side(self) -> Side:
        return self.intent.side

    @property
    def signed_qty(self) -> Decimal:
        return self.qty if self.side is Side.BUY else -self.qty

    @property
    def notional(self) -> Decimal:
        return self.qty * self.reference_price


@dataclass(frozen=True, slots=True)
class Skip:
    symbol: Symbol
    reason: str
    traded: bool = False  # True for a note on a leg that is traded (e.g. a fractional short rounded), not skipped


@dataclass(frozen=True, slots=True)
class LegDrift:
    symbol: Symbol
    target: Decimal  # weight
    current: Decimal  # weight
    multiple: Decimal = ONE

    @property
    def drift(self) -> Decimal:
        return self.current - self.target


@dataclass(frozen=True, slots=True)
class BookMeasures:
    """Exposure measured the way the trade is meant."""

    gross: Decimal
    net: Decimal
    long_short_ratio: Decimal | None  # long leg value / |short leg value|; None without a short leg
    effective: Mapping[Symbol, Decimal]  # underlying -> sum of weight x multiple


@dataclass(frozen=True, slots=True)
class DriftReport:
    legs: tuple[LegDrift, ...]
    current: BookMeasures
    target: BookMeasures

    @property
    def max_abs_leg_drift(self) -> Decimal:
        return max((abs(leg.drift) for leg in self.legs), default=ZERO)


@dataclass(frozen=True, slots=True)
class RebalancePlan:
    orders: tuple[OrderIntent, ...]  # in execution order: reductions first
    drift: DriftReport
    skipped: tuple[Skip, ...] = ()
    notes: tuple[Skip, ...] = ()  # legs traded in a way worth saying (Skip.traded)

    @property
    def is_noop(self) -> bool:
        return not self.orders

    @property
    def reductions(self) -> tuple[OrderIntent, ...]:
        return tuple(o for o in self.orders if o.intent.is_reduction)

    @property
    def increases(self) -> tuple[OrderIntent, ...]:
        return tuple(o for o in self.orders if not o.intent.is_reduction)


@dataclass(frozen=True, slots=True)
class Fill:
    """What the broker says happened; the ledger's unit, unique on activity_id."""

    activity_id: str  # Alpaca's FILL activity id "<date>::<uuid>"
    order_id: str  # broker's order id
    client_order_id: str  # ours (may be "" for orders the bot did not place)
    symbol: Symbol
    side: Side
    qty: Decimal  # positive
    price: Decimal
    filled_at: datetime  # broker time, tz-aware

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError(f"fill {self.activity_id}: qty must be positive, got {self.qty}")

    @property
    def signed_qty(self) -> Decimal:
        return self.qty if self.side is Side.BUY else -self.qty


@dataclass(frozen=True, slots=True)
class OrderState:
    """An order as the broker reports it now."""

    order_id: str
    client_order_id: str
    symbol: Symbol
    side: Side
    qty: Decimal
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    status: str
    submitted_at: datetime

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({"filled", "canceled", "expired", "rejected", "replaced"})


@dataclass(frozen=True, slots=True)
class Session:
    """One trading session of the exchange calendar, times tz-aware UTC."""

    day: date
    open: datetime
    close: datetime


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """A non-trade activity as the broker booked it (a split entry, a dividend, a fee, a journal...): the
    ledger's second unit beside Fill, unique on activity_id. Values are as sent; what they do to a position
    is worked out by the core (a split's REMOVE/ADD may come signed or unsigned)."""

    activity_id: str
    activity_type: str  # Alpaca's code as sent: SPLIT, DIV, DIVNRA, CIL, JNLC, JNLS, FEE, INT, SSP, SSO, ...
    on: date  # the activity's `date`: when it takes effect
    symbol: Symbol | None = None  # None for account-level cash (fees, interest, cash journals)
    qty: Decimal = ZERO  # as sent (0 when absent)
    cash: Decimal = ZERO  # net_amount, signed as sent (0 when absent)
    per_share: Decimal | None = None  # per_share_amount (dividends)
    sub_type: str = ""  # entry_sub_type as sent, e.g. RSPLIT, CDIV, ROC
    description: str = ""
    booked_at: datetime | None = None  # transaction_time or created_at, when sent

    @property
    def is_split(self) -> bool:
        return self.activity_type in SPLIT_TYPES

    @property
    def split_leg(self) -> str:
        """"remove" or "add" for a split entry (from its description, else from the sign of qty), else ""."""
        if not self.is_split:
            return ""
        text = self.description.upper()
        if "REMOVE" in text:
            return "remove"
        if "ADD" in text:
            return "add"
        return "remove" if self.qty < 0 else "add"


SPLIT_TYPES = frozenset({"SPLIT", "SSP", "SSO", "RSPLIT"})  # SSP/SSO: the older split codes, still in history
