"""LocalExchange: the exchange on a loopback port in a daemon thread, and the driver's controls (account and asset
flags, the clock, the replay date, and corporate actions: schedule_split, schedule_dividend, book_cash)."""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from bot.adapters.exchange.actions import CorporateCalendar, Dividend, booking_moment, derive_dividends, start_of
from bot.adapters.exchange.booking import BookingRules, booked_through
from bot.adapters.exchange.clock import ReplayClock, make_clock
from bot.adapters.exchange.faults import FaultPlan
from bot.adapters.exchange.generations import REVIEW_REQUESTS
from bot.adapters.exchange.matching import Engine
from bot.adapters.exchange.prices import PriceBook
from bot.adapters.exchange.server import Dispatcher, ExchangeHTTPServer, RequestLog
from bot.adapters.exchange.settings import ExchangeSettings
from bot.adapters.exchange.state import Store
from bot.adapters.history.splits import splits_beside
from bot.core.corporate import Split
from bot.core.domain import Symbol

log = logging.getLogger("bot.adapters.exchange")
SCHEDULED = "scheduled_corporate_actions"  # meta: the splits and dividends scripted through the control API


class LocalExchange:
    """An Alpaca-compatible paper exchange; ``start()`` returns the base URL (no /v2)."""

    def __init__(self, settings: ExchangeSettings | None = None) -> None:
        self.settings = settings = settings or ExchangeSettings()
        self.keys: tuple[str, str] = (settings.api_key, settings.secret_key)
        self.requests = RequestLog()
        self.faults = FaultPlan()
        if settings.faults_path is not None:
            self.faults.load(settings.faults_path)
        self.lock = threading.RLock()
        self.book = PriceBook.load(settings.prices, seed=settings.seed, half_spread_bps=settings.half_spread_bps,
                                   symbols=settings.symbols)
        self.store = Store(settings.state_path)
        self._file_splits = () if settings.is_synthetic else splits_beside(Path(settings.prices)) or ()
        with self.store.transaction():
            if settings.reset or not self.store.is_initialised():
                self.store.reset(settings.starting_cash)
            stored_day = self.store.get_meta("replay_date")
            self._load_calendar()
        replay_day = settings.replay_start or (date.fromisoformat(stored_day) if stored_day else None)
        self.clock = make_clock(settings.clock, now=settings.now, replay_day=replay_day)
        self.engine = Engine(self.store, self.book, self.clock, seed=settings.seed,
                             partial_fill_probability=settings.partial_fill_probability,
                             fill_latency_seconds=settings.fill_latency_seconds,
                             review_requests=REVIEW_REQUESTS if settings.schema == "drift" else 0,
                             booking=BookingRules(remainder=settings.split_remainder,
                                                  withholding=settings.dividend_withholding,
                                                  notices=settings.schema == "drift"))
        self._server: ExchangeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def prices_label(self) -> str:
        return self.book.label

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the exchange is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        if self._server is not None:
            return self.base_url
        dispatcher = Dispatcher(engine=self.engine, lock=self.lock, faults=self.faults, requests=self.requests,
                                keys=self.keys, label=self.book.label, schema=self.settings.schema)
        self._server = ExchangeHTTPServer((self.settings.host, self.settings.port), dispatcher, self.book.label)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.005},
                                        name="local-exchange", daemon=True)
        self._thread.start()
        log.info("local exchange on %s (prices: %s, clock: %s, schema: %s)", self.base_url, self.book.label,
                 self.clock.mode, self.settings.schema)
        return self.base_url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close(self) -> None:
        """Stop serving and close the state database."""
        self.stop()
        self.store.close()

    def __enter__(self) -> LocalExchange:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- the driver's controls ------------------------------------------------------------------

    def reset(self, cash: Decimal | None = None) -> None:
        """A fresh account: no orders, positions or fills; default flags."""
        with self.lock, self.store.transaction():
            self.store.reset(self.settings.starting_cash if cash is None else cash)
            self._load_calendar()

    def set_account_flags(self, **flags: Any) -> None:
        """e.g. shorting_enabled=False, trading_blocked=True, trade_suspended_by_user=True, status="INACTIVE"."""
        with self.lock, self.store.transaction():
            self.store.set_account_flags(**flags)

    def set_asset_flags(self, symbol: str, **flags: bool) -> None:
        """e.g. set_asset_flags("QQQ", shortable=False) or easy_to_borrow / fractionable / tradable."""
        with self.lock, self.store.transaction():
            self.store.set_asset_flags(symbol.upper(), **flags)

    def set_now(self, when: datetime | None) -> None:
        """Pin the wall clock (always-open and nyse modes); None returns to real time."""
        with self.lock:
            self.clock.set_now(when)

    def settle(self) -> None:
        """Run the matching engine now, as any request would."""
        with self.lock, self.store.transaction():
            self.engine.settle(self.clock.now())

    def set_date(self, day: date) -> None:
        """Replay mode: fill what is due at the current date, then move to ``day`` (an NYSE session)."""
        clock = self._replay_clock()
        with self.lock, self.store.transaction():
            self.engine.settle(clock.now())
            clock.set_date(day)
            self.store.set_meta("replay_date", day.isoformat())

    def advance_session(self) -> date:
        """Replay mode: move to the next session; unfilled day orders of the old one expire."""
        clock = self._replay_clock()
        with self.lock, self.store.transaction():
            self.engine.settle(clock.now())
            day = clock.advance()
            self.store.set_meta("replay_date", day.isoformat())
        return day

    # -- corporate actions (see actions.py, booking.py) ----------------------------------------------

    def schedule_split(self, symbol: str, on: date, ratio: Decimal) -> None:
        """A split effective at the session ``on`` (ratio = new shares per old): prices before it become
        as traded at once (x ratio), and the account books it lazily. Schedule before trading the symbol."""
        split = Split(Symbol(symbol.upper()), on, Decimal(ratio))
        with self.lock, self.store.transaction():
            self._add_scheduled("splits", split.symbol, booking_moment(split), [on.isoformat(), str(split.ratio)])

    def schedule_dividend(self, symbol: str, ex_date: date, per_share: Decimal) -> None:
        """A cash dividend per share held at the start of ``ex_date`` (as traded)."""
        if not self.settings.simulate_dividends:
            raise RuntimeError("dividends are off (simulate_dividends=False, as on Alpaca paper)")
        div = Dividend(Symbol(symbol.upper()), ex_date, Decimal(per_share))
        with self.lock, self.store.transaction():
            self._add_scheduled("dividends", div.symbol, start_of(ex_date), [ex_date.isoformat(), str(div.per_share)])

    def book_cash(self, activity_type: str, amount: Decimal, on: date, description: str = "") -> None:
        """A cash entry now (FEE, INT, JNLC, CSD or CSW), dated ``on``; amount signed as it moves cash."""
        with self.lock, self.store.transaction():
            at = self.clock.now()
            self.engine.settle(at)
            self.engine.booker.book_cash(activity_type.upper(), Decimal(amount), on, at, description)

    def journal_shares(self, symbol: str, qty: Decimal, on: date, description: str = "") -> None:
        """A stock journal (JNLS) now, dated ``on``: ``qty`` shares moved into (+) or out of (-) the account, as a
        person moves them between their accounts; no cash moves."""
        with self.lock, self.store.transaction():
            at = self.clock.now()
            self.engine.settle(at)
            self.engine.booker.journal_shares(symbol.upper(), Decimal(qty), on, at, description)

    def _add_scheduled(self, kind: str, symbol: str, moment: datetime, row: list[str]) -> None:
        if not self.book.has(symbol):
            raise ValueError(f"no prices for {symbol}: nothing to split or pay")
        through = booked_through(self.store)
        if through is not None and moment <= through:
            raise ValueError(f"{symbol} {row[0]}: too late, the account is booked through {through.isoformat()}")
        scheduled = self.store.get_json(SCHEDULED, {"splits": [], "dividends": []})
        scheduled[kind].append([symbol, *row])
        self.store.set_json(SCHEDULED, scheduled)
        self._load_calendar()

    def _load_calendar(self) -> None:
        """The file's splits and the scheduled ones; dividends derived from the prices and scheduled."""
        scheduled = self.store.get_json(SCHEDULED, {"splits": [], "dividends": []})
        splits = [*self._file_splits, *(Split(Symbol(s), date.fromisoformat(d), Decimal(r))
                                        for s, d, r in scheduled["splits"])]
        dividends: list[Dividend] = []
        if self.settings.simulate_dividends:
            dividends = derive_dividends(self.book.frames, CorporateCalendar(splits))
            dividends += [Dividend(Symbol(s), date.fromisoformat(d), Decimal(p)) for s, d, p in scheduled["dividends"]]
        self.book.set_calendar(CorporateCalendar(splits, dividends))

    @property
    def current_date(self) -> date:
        return self.clock.price_day(self.clock.now())

    def _replay_clock(self) -> ReplayClock:
        if not isinstance(self.clock, ReplayClock):
            raise RuntimeError("set_date/advance_session need clock='replay'")
        return self.clock
