"""`pairbot doctor`: config, keys, broker, clock, account flags, short assets, ledger and reconciliation."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from bot.bootstrap import Endpoint, broker_for, endpoint_for, remote_endpoint
from bot.broker.alpaca import AlpacaBroker
from bot.broker.mapping import NEW_YORK
from bot.config import Config, load_config
from bot.core.checks import ledger_breaks
from bot.core.domain import AccountSnapshot, Symbol
from bot.errors import BotError, BrokerUnavailable, ConfigError, ReconciliationBreak
from bot.ledger import SCHEMA_VERSION
from bot.lock import exclusive_lock
from bot.logging import configure_silent, mask_key
from bot.runner import history_symbols
from bot.tradelog import open_readonly
from strategies import build_strategy
from strategies.base import MarketView, Strategy


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


def check_clock(broker: AlpacaBroker, snap: AccountSnapshot) -> Check:
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


def ledger_positions(path: Path) -> tuple[dict[Symbol, Decimal], set[str], str | None]:
    """Signed qty per symbol from the ledger's fills, the fill ids, and the latest fill time."""
    out: dict[Symbol, Decimal] = {}
    ids: set[str] = set()
    last: str | None = None
    if not path.exists():
        return out, ids, last
    with open_readonly(path) as db:
        for activity_id, symbol, side, qty, filled_at in db.execute(
                "SELECT activity_id, symbol, side, qty, filled_at FROM fills ORDER BY filled_at"):
            signed = Decimal(qty) if side == "buy" else -Decimal(qty)
            out[Symbol(symbol)] = out.get(Symbol(symbol), Decimal(0)) + signed
            ids.add(activity_id)
            last = filled_at
    return out, ids, last


def check_reconciliation(path: Path, broker: AlpacaBroker) -> Check:
    """Ledger positions plus fills the broker has that the ledger has not ingested yet, against the broker's."""
    positions, ids, _ = ledger_positions(path)
    pending = [f for f in broker.fills() if f.activity_id not in ids]
    for f in pending:
        positions[f.symbol] = positions.get(f.symbol, Decimal(0)) + f.signed_qty
    held = {p.symbol: p.qty for p in broker.positions()}
    breaks = ledger_breaks({s: q for s, q in positions.items() if q != 0}, held)
    if breaks:
        return failed("reconcile", "ledger and broker disagree: " + "; ".join(v.message for v in breaks), 6)
    book = ", ".join(f"{s} {q:+}" for s, q in sorted(held.items())) or "flat"
    note = f" ({len(pending)} broker fill(s) not in the ledger yet; the next run ingests them)" if pending else ""
    return passed("reconcile", f"ledger matches the broker: {book}{note}")


def short_legs(strategy: Strategy, broker: AlpacaBroker, snap: AccountSnapshot) -> set[Symbol]:
    today = snap.as_of.astimezone(NEW_YORK).date()
    prices = {s: snap.price(s) for s in strategy.universe if s in snap.quotes}
    closes = None
    if strategy.needs_history_days:
        closes = broker.daily_closes(history_symbols(strategy), today - timedelta(days=400), today)
    targets = strategy.target_weights(MarketView(as_of=today, prices=prices, closes=closes))
    return {s for s, w in targets.weights.items() if w < 0}


# -- the sequence -----------------------------------------------------------------------------------------


def broker_checks(config: Config, config_path: Path, endpoint: Endpoint) -> list[Check]:
    broker = broker_for(config, endpoint)
    account = broker.account_number()
    where = "embedded local exchange" if config.mode == "local" else endpoint.base_url
    checks = [passed("broker", f"{where} answers (account {account})")]
    try:
        strategy = build_strategy(config.strategy, config.strategy_params())
    except ValueError as err:
        return [*checks, failed("strategy", f"{config_path}: strategies.{config.strategy}: {err}", 2)]
    snap = broker.snapshot(strategy.universe)
    shorts = attempt("short legs", lambda: Check("short legs", True, ", ".join(short_legs(strategy, broker, snap))))
    short_set = {Symbol(s) for s in shorts.detail.split(", ") if s} if shorts.ok else set()
    checks += [attempt("clock", lambda: check_clock(broker, snap)), check_account(snap, short_set)]
    checks.append(check_shorts(snap, short_set) if shorts.ok else shorts)
    checks.append(attempt("reconcile", lambda: check_reconciliation(config.ledger_path(), broker)))
    return checks


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
        except BotError as err:
            return [*checks, failed("lock", f"{err} (try again when it is done)", 3), ledger]
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
    checks.insert(len(checks) - 1 if checks[-1].name == "reconcile" else len(checks), ledger)
    return checks


def exit_code(checks: list[Check]) -> int:
    codes = [c.exit_code or 3 for c in checks if not c.ok]
    for code in (2, 4, 6):
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

