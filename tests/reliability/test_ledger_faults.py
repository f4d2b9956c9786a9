"""A lost, truncated, corrupted, foreign-version or unwritable ledger: refuse with one line, or rebuild.

Decision for a missing ledger while the broker has history: a new ledger is bound to no account, so the first
run adopts the broker's orders (status=all) and ingests every FILL activity, then reconciles. That is an
accepted "rebuild on first run"; it must still never reuse a client order id and must top up what is missing.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from bot.adapters.exchange import Fault
from tests.reliability.conftest import Book


def trade_to_target(book: Book) -> None:
    first = book.rebalance()
    assert first.code == 0, first.stderr
    book.check()


def wipe(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def test_a_lost_ledger_is_rebuilt_from_the_broker_on_the_next_run_and_tops_up_without_reusing_an_id(
        book: Book) -> None:
    book.ex.faults.add(Fault("partial_then_expire", method="POST", path="/v2/orders", on_calls=frozenset({1})))
    incomplete = book.rebalance()
    assert incomplete.code == 5, incomplete.stderr
    wipe(book.ledger)

    rerun = book.rebalance()

    assert rerun.code == 0, rerun.stdout + rerun.stderr
    assert rerun.posts == 1 and "IWM-bto-2" in rerun.stdout  # the remainder, under a new attempt number
    book.check()
    last = book.rebalance()
    assert last.code == 0 and last.posts == 0 and "within band" in last.stdout


def truncate(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)


def corrupt(path: Path) -> None:
    with path.open("r+b") as f:
        f.seek(100)
        f.write(b"\xde\xad\xbe\xef" * 512)


def foreign_version(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    sqlite3.connect(path).close()


def not_a_database(path: Path) -> None:
    path.write_text("this is not a ledger\n" * 200)


DAMAGE = {
    "truncated": (truncate, ""),
    "corrupted": (corrupt, ""),
    "not a database": (not_a_database, ""),
    "an unknown schema version": (foreign_version, "schema version 99"),
}


@pytest.mark.parametrize(("damage", "says"), DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_ledger_refuses_to_trade_with_one_line_then_rebuild_restores_it(book: Book, damage: object,
                                                                                   says: str) -> None:
    trade_to_target(book)
    assert callable(damage)
    damage(book.ledger)

    refused = book.rebalance()

    assert refused.code == 6, refused.stdout + refused.stderr
    line = refused.one_line()
    assert "refusing to trade" in line and says in line
    assert refused.requests == 0

    rebuilt = book.command("ledger", "rebuild", "--yes")

    assert rebuilt.code == 0, rebuilt.stderr
    assert rebuilt.posts == 0
    aside = list(book.ledger.parent.glob(f"{book.ledger.name}.broken-*"))
    assert [p for p in aside if p.name.endswith(tuple("0123456789Z"))], aside
    assert stat.S_IMODE(book.ledger.stat().st_mode) == 0o600
    book.check()
    after = book.rebalance()  # the book is at target: nothing to send (the new ledger has no done period yet)
    assert after.code == 0 and after.posts == 0, after.stdout + after.stderr


def test_an_unwritable_ledger_directory_refuses_to_trade_with_one_line(book: Book) -> None:
    ro = book.cli.workdir / "ro"
    ro.mkdir(mode=0o500)
    # root writes through mode bits, so as root the ledger goes where nobody may create files (sysfs)
    where = "/sys/pairbot-ro" if os.geteuid() == 0 else "ro"
    book.configure(paths={"ledger": f"{where}/ledger-{{mode}}.sqlite"})
    try:
        refused = book.rebalance()
    finally:
        ro.chmod(0o700)

    assert refused.code == 6, refused.stdout + refused.stderr
    assert "refusing to trade" in refused.one_line()
    assert refused.posts == 0


def test_ledger_rebuild_from_a_book_with_partial_fills_and_cancels_reconciles_and_trades_on(book: Book) -> None:
    book.ex.faults.add(Fault("partial_then_expire", method="POST", path="/v2/orders", on_calls=frozenset({1})),
                       Fault("stuck", method="POST", path="/v2/orders", on_calls=frozenset({2}), polls=10_000))
    assert book.rebalance().code == 5

    rebuilt = book.command("ledger", "rebuild", "--yes")

    assert rebuilt.code == 0, rebuilt.stderr
    assert "2 pairbot orders" in rebuilt.stdout
    book.check()
    rerun = book.rebalance()
    assert rerun.code == 0 and rerun.posts == 2, rerun.stdout + rerun.stderr
    assert "IWM-bto-2" in rerun.stdout and "QQQ-sto-2" in rerun.stdout
    book.check()
