"""The pure core stays pure: no I/O library, no clock, no shell module imported by core or strategies."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_MODULES = sorted([*(ROOT / "bot" / "core").glob("*.py"), *(ROOT / "strategies").glob("*.py")])
FORBIDDEN = ("alpaca", "structlog", "tenacity", "sqlite3", "os", "time", "requests", "subprocess", "socket")
FORBIDDEN_BOT = ("bot.adapters", "bot.live", "bot.research", "bot.commands", "bot.cli")
CLOCK_READS = ("datetime.now", "date.today", "datetime.today", "datetime.utcnow")


def imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.add(node.module)
    return names


def is_forbidden(name: str) -> bool:
    top = name.split(".")[0]
    return top in FORBIDDEN or any(name == m or name.startswith(m + ".") for m in FORBIDDEN_BOT)


def test_there_are_pure_modules_to_check() -> None:
    assert len(PURE_MODULES) >= 8


@pytest.mark.parametrize("path", PURE_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module_imports_no_io_library_or_shell_module(path: Path) -> None:
    assert sorted(n for n in imported_names(path) if is_forbidden(n)) == []


@pytest.mark.parametrize("path", PURE_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module_never_reads_the_clock(path: Path) -> None:
    source = path.read_text()

    assert [call for call in CLOCK_READS if call in source] == []


def test_the_guard_catches_what_it_is_for() -> None:
    """The check itself: these names would fail a pure module."""
    assert all(is_forbidden(n) for n in ("os", "os.path", "time", "alpaca.trading.client", "bot.adapters.ledger",
                                         "bot.live.runner", "bot.research.backtest"))
    assert not any(is_forbidden(n) for n in ("bot.core.domain", "bot.errors", "pandas", "datetime", "timeit"))
