"""`pairbot doctor`: config, keys, broker, clock, account flags, short assets, ledger and reconciliation."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bot.adapters.broker.port import Broker
from bot.adapters.ledger import MEMORY, SCHEMA_VERSION, Ledger
from bot.adapters.logs import LOG_NAME, configure_silent, mask_key, open_private
from bot.adapters.tradelog import open_readonly
from bot.commands.rebalance import trading_window
from bot.config import Config, load_config
from bot.core.book import book_breaks, our_symbols
from bot.core.corporate import event_effects
from bot.core.domain import NEW_YORK, AccountSnapshot, Symbol, is_ours
from bot.errors import BotError, BrokerUnavailable, ConfigError, ReconciliationBreak, RunLocked
from bot.live.context import RunContext, pairbots_symbols, snapshot
from bot.live.lock import exclusive_lock
from bot.live.reconcile import foreign_open_orders
from bot.live.runner import market_view
from bot.live.summary import next_run, others
from bot.live.wiring import Endpoint, broker_for, endpoint_for, remote_endpoint
from strategies.base import Strategy


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    exit_code: int = 0  # what a failure of this check means for the exit code

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name:<14} {self.detail}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="print only the failures")


def passed(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def failed(name: str, detail: str, exit_code: int) -> Check:
    return Check(name, False, detail, exit_code)


def from_error(name: str, err: Exception) -> Check:
    """Any failure becomes a FAIL line with a code; never a traceback."""
    if isinstance(err, BotError):
        code = next((c for kind, c in ((ConfigError, 2), (BrokerUnavailable, 4), (ReconciliationBreak, 6))
                     if isinstance(err, kind)), 3)
        return failed(name, str(err), code)
    return failed(name, f"unexpected {type(err).__name__}: {err}", 3)


def attempt(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception as err:  # a doctor reports; it never crashes
        return from_error(name, err)


# -- the checks -------------------------------------------------------------------------------------------


def check_keys(config: Config, endpoint: Endpoint | None) -> Check:
    if config.mode == "local":
        assert endpoint is not None
        return passed("keys", f"local exchange keys (generated per run: {mask_key(endpoint.api_key)})")
    ep = remote_endpoint(config, os.environ)
    return passed("keys", f"ALPACA_API_KEY {mask_key(ep.api_key)}, ALPACA_SECRET_KEY set; trading {ep.base_url}, "
                          f"data {ep.data_url}")


def check_clock(broker: Broker, snap: AccountSnapshot, *, always_open: bool = False) -> Check:
    if always_open:
        return passed("clock", f"broker time {snap.as_of:%Y-%m-%d %H:%M} UTC; the embedded demo clock is always "
                               "open (local.clock: nyse for real hours)")
    today = snap.as_of.astimezone(NEW_YORK).date()
    sessions = [s for s in broker.sessions(today, today + timedelta(days=14)) if s.close > snap.as_of]
    state = "open" if snap.clock.is_open else "closed"
    if not sessions:
        return failed("clock", f"market {state}; no session in the next 14 days", 3)
    s = sessions[0]
    return passed("clock", f"broker time {snap.as_of:%Y-%m-%d %H:%M} UTC, market {state}; next session {s.day} "
                           f"{s.open.astimezone(NEW_YORK):%H:%M}-{s.close.astimezone(NEW_YORK):%H:%M} New York")


def check_account(snap: AccountSnapshot, shorts: set[Symbol]) -> Check:
    acct = snap.account
    problems = [p for p, bad in (
        (f"status {acct.status}", not acct.is_active), ("trading blocked", acct.trading_blocked),
        ("account blocked", acct.account_blocked), ("trading suspended by user", acct.trade_suspended_by_user),
        ("shorting disabled while the strategy shorts", bool(shorts) and not acct.shorting_enabled),
        (f"equity {snap.equity} below the $2,000 needed to short", bool(shorts) and snap.equity < Decimal(2000)),
    ) if bad]
    detail = (f"{acct.account_number} {acct.status}, equity ${snap.equity:,.2f}, shorting "
              f"{'enabled' if acct.shorting_enabled else 'disabled'}, "
              f"{'blocked' if acct.trading_blocked or acct.account_blocked else 'not blocked'}")
    return failed("account", f"{detail}: {'; '.join(problems)}", 3) if problems else passed("account", detail)


def check_shorts(snap: AccountSnapshot, shorts: set[Symbol]) -> Check:
    if not shorts:
        return passed("short assets", "the strategy holds no short leg")
    bad, good = [], []
    for sym in sorted(shorts):
        asset = snap.assets.get(sym)
        if asset is None:
            bad.append(f"{sym} unknown to the broker")
        elif not (asset.tradable and asset.shortable and asset.easy_to_borrow):
            missing = [n for n, v in (("tradable", asset.tradable), ("shortable", asset.shortable),
                                      ("easy to borrow", asset.easy_to_borrow)) if not v]
            bad.append(f"{sym} not {', '.join(missing)}")
        else:
            good.append(f"{sym} shortable and easy to borrow")
    return failed("short assets", "; ".join(bad), 3) if bad else passed("short assets", "; ".join(good))


def check_ledger(path: Path) -> Check:
    if not path.exists():
        return passed("ledger", f"{path} not created yet (the first rebalance creates it)")
    with open_readonly(path) as db:
        ok = db.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            return failed("ledger", f"{path}: integrity check failed ({ok})", 6)
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = None if row is None else row[0]
        if version != str(SCHEMA_VERSION):
            return failed("ledger", f"{path}: schema version {version}, this pairbot reads {SCHEMA_VERSION}", 6)
        runs, fills = (db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "fills"))
    return passed("ledger", f"{path}: integrity ok, schema {SCHEMA_VERSION}, {runs} run(s), {fills} fill(s)")


def check_writable(config: Config) -> Check:
    """What a rebalance writes, tried as it would open it (the log appended to, the ledger opened for writing, or
    its directory made), so a path it would refuse fails here too. It writes nothing into either."""
    log, ledger = config.paths.logs / LOG_NAME, config.ledger_path()
    try:
        open_private(log).close()
    except OSError as err:
        return failed("paths", f"log {log}: cannot write it ({err.strerror}; check paths.logs)", 2)
    try:
        if ledger.exists():
            with ledger.open("r+b"):
                pass
        else:
            ledger.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not os.access(ledger.parent, os.W_OK | os.X_OK):  # SQLite writes its journal beside the ledger
            raise PermissionError(13, "Permission denied")
    except OSError as err:
        return failed("paths", f"ledger {ledger}: cannot write it ({err.strerror}; check paths.ledger); a rebalance "
                               "would refuse to trade", 6)
    return passed("paths", f"log {log} and ledger {ledger} writable")


def check_open_orders(ctx: RunContext) -> Check:
    """Open orders in pairbot's symbols that pairbot did not place refuse a rebalance (exit 3); its own are
    settled by the next one."""
    ours = pairbots_symbols(ctx)
    open_orders = [o for o in ctx.broker.open_orders() if o.symbol in ours]
    foreign = foreign_open_orders(ctx, open_orders)
    if foreign:
        return failed("open orders", f"open orders not placed by pairbot in {', '.join(foreign)}: a rebalance "
                                     "refuses until they are filled or cancelled", 3)
    mine = [o for o in open_orders if is_ours(o.client_order_id)]
    return passed("open orders", f"{len(mine)} of pairbot's own, settled by the next rebalance" if mine
                  else "none in pairbot's symbols")


def check_reconciliation(path: Path, broker: Broker, strategy: Strategy) -> Check:
    """pairbot's ledger (read-only) plus its fills and account events the ledger has not ingested yet, against
    the broker's positions of pairbot's symbols today; the user's own positions are not compared."""
    today = broker.clock().as_of.astimezone(NEW_YORK).date()
    positions: dict[Symbol, Decimal] = {}
    fill_ids: set[str] = set()
    event_ids: set[str] = set()
    known: dict[str, str] = {}
    if path.exists():
        with Ledger(path, readonly=True) as ledger:
            positions = ledger.positions(as_of=today)
            fill_ids = {f.activity_id for f in ledger.fills()}
            event_ids = {b.event.activity_id for b in ledger.events()}
            known = {o["order_id"]: o["client_order_id"] for o in ledger.orders()}
    pending = [f for f in broker.fills(known=known) if is_ours(f.client_order_id) and f.activity_id not in fill_ids]
    for f in pending:
        positions[f.symbol] = positions.get(f.symbol, Decimal(0)) + f.signed_qty
    ours = our_symbols(strategy.universe, positions)
    new_events = [e for e in broker.account_events() if e.activity_id not in event_ids and e.on <= today
                  and (e.symbol is None or e.symbol in ours)]
    for e, change in zip(new_events, event_effects(new_events, positions), strict=True):
        if e.symbol is not None:
            positions[e.symbol] = positions.get(e.symbol, Decimal(0)) + change
    held = {p.symbol: p.qty for p in broker.positions()}
    breaks = book_breaks(positions, held, ours=ours)
    if breaks:
        return failed("reconcile", "ledger and broker disagree: " + "; ".join(v.message for v in breaks)
                      + "; if the broker is right: pairbot ledger accept", 6)
    book = ", ".join(f"{s} {held[s]:+}" for s in sorted(ours) if s in held) or "flat"
    waiting = len(pending) + len(new_events)
    note = f" ({waiting} fill(s) or event(s) not in the ledger yet; the next run ingests them)" if waiting else ""
    return passed("reconcile", f"pairbot's book matches the broker: {book}{note}")


def short_legs(ctx: RunContext, snap: AccountSnapshot) -> set[Symbol]:
    targets = ctx.strategy.target_weights(market_view(ctx, snap))
    return {s for s, w in targets.weights.items() if w < 0}


def check_book(snap: AccountSnapshot) -> Check:
    mine = ", ".join(f"{s} {p.qty:+}" for s, p in sorted(snap.positions.items())) or "flat"
    theirs = f"; not pairbot's (never traded): {others(snap)}" if snap.other_positions else ""
    return passed("book", f"pairbot's positions {mine}{theirs}")


def check_kill_switch(config: Config) -> Check:
    kill = config.paths.kill_switch
    if kill.exists():
        return failed("kill switch", f"{kill} is present: every rebalance exits 3 without trading until it is "
                                     "removed (pairbot plan still previews)", 3)
    return passed("kill switch", f"off ({kill} absent)")


def check_next_run(ctx: RunContext, snap: AccountSnapshot) -> Check:
    return passed("next run", next_run(ctx, snap))


# -- the sequence -----------------------------------------------------------------------------------------


def broker_checks(config: Config, config_path: Path, endpoint: Endpoint) -> list[Check]:
    broker = broker_for(config, endpoint)
    account = broker.account_number()
    where = "embedded local exchange" if config.mode == "local" else endpoint.base_url
    checks = [passed("broker", f"{where} answers (account {account})")]
    try:
        strategy = config.build_strategy()
    except ValueError as err:
        return [*checks, failed("strategy", f"{config_path}: strategies.{config.strategy}: {err}", 2)]
    ctx = doctor_context(config, config_path, broker, strategy)
    with ctx.ledger:
        snap = snapshot(ctx)
        shorts = attempt("short legs", lambda: Check("short legs", True, ", ".join(short_legs(ctx, snap))))
        short_set = {Symbol(s) for s in shorts.detail.split(", ") if s} if shorts.ok else set()
        demo = config.mode == "local" and config.local.clock == "always-open"
        checks += [attempt("clock", lambda: check_clock(broker, snap, always_open=demo)),
                   check_account(snap, short_set)]
        checks.append(check_shorts(snap, short_set) if shorts.ok else shorts)
        checks += [check_book(snap), attempt("open orders", lambda: check_open_orders(ctx)),
                   attempt("next run", lambda: check_next_run(ctx, snap))]
    checks.append(attempt("reconcile", lambda: check_reconciliation(config.ledger_path(), broker, strategy)))
    return [*checks, passed("schema", broker.schema_seen().summary())]


def doctor_context(config: Config, config_path: Path, broker: Broker, strategy: Strategy) -> RunContext:
    """A run's context over the ledger opened read-only (an absent ledger reads as empty, in memory)."""
    path = config.ledger_path()
    ledger = Ledger(path, readonly=True) if path.exists() else Ledger(MEMORY)
    return RunContext(config=config, strategy=strategy, broker=broker, ledger=ledger, run_id="doctor",
                      now=lambda: datetime.now(UTC), sleep=lambda _s: None, config_path=config_path,
                      window=trading_window(config))


def diagnose(config_path: Path) -> list[Check]:
    try:
        config = load_config(config_path)
    except ConfigError as err:
        return [failed("config", str(err), 2)]
    checks = [passed("config", f"{config_path.resolve()}: mode {config.mode}, strategy {config.strategy}")]
    ledger = attempt("ledger", lambda: check_ledger(config.ledger_path()))
    with ExitStack() as stack:
        try:
            stack.enter_context(exclusive_lock(config.paths.state_dir / "pairbot.lock"))
        except RunLocked as err:
            return [*checks, failed("lock", f"{err} (try again when it is done)", RunLocked.exit_code), ledger]
        except BotError as err:
            return [*checks, failed("lock", str(err).removesuffix("; nothing was sent"), err.exit_code), ledger]
        checks.append(attempt("paths", lambda: check_writable(config)))
        if config.mode != "local":
            keys = attempt("keys", lambda: check_keys(config, None))
            checks.append(keys)
            if not keys.ok:
                return [*checks, ledger]
        try:
            endpoint = stack.enter_context(endpoint_for(config))
        except Exception as err:
            return [*checks, from_error("broker", err), ledger]
        if config.mode == "local":
            checks.append(check_keys(config, endpoint))
        try:
            checks += broker_checks(config, config_path, endpoint)
        except Exception as err:
            checks.append(from_error("broker", err))
    names = [c.name for c in checks]
    checks.insert(names.index("reconcile") if "reconcile" in names else len(checks), ledger)
    return [*checks, check_kill_switch(config)]


def exit_code(checks: list[Check]) -> int:
    codes = [c.exit_code or 3 for c in checks if not c.ok]
    for code in (2, RunLocked.exit_code, 4, 6):
        if code in codes:
            return code
    return 3 if codes else 0


def run(args: argparse.Namespace) -> int:
    configure_silent()
    checks = diagnose(args.config)
    for c in checks:
        if c.ok and args.quiet:
            continue
        print(c.line())
    code = exit_code(checks)
    print(f"doctor: {'all checks passed' if code == 0 else f'{sum(not c.ok for c in checks)} check(s) failed'}"
          f" (exit {code})")
    return code

