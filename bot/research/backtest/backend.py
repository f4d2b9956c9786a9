"""Which implementation of the loop runs: the C one (cloop.py) when it builds, else the same algorithm in Python.

$PAIRBOT_LOOP picks one: "c" (an error if it cannot be built), "python" (pyloop.py: exact and slow), or
unset/"auto" for C with the Python fallback. Both expose runner, curve_stats, leg_over, book_over and
decide_row with the same signatures and the same results, bit for bit.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from bot.research.backtest import cloop

NAMES = ("c", "python", "auto")


@cache
def get() -> Any:
    """The loop in use; its `name` is "c" or "python"."""
    return by_name(os.environ.get("PAIRBOT_LOOP", "auto").strip().lower() or "auto")


@cache
def by_name(name: str) -> Any:
    if name not in NAMES:
        raise ValueError(f"PAIRBOT_LOOP must be {', '.join(NAMES)}, not {name!r}")
    if name in ("c", "auto"):
        compiled = cloop.load()
        if compiled is not None:
            return compiled
        if name == "c":
            raise RuntimeError(f"PAIRBOT_LOOP=c but the C loop cannot be built: {cloop.build_error()}")
    from bot.research.backtest import pyloop

    return pyloop
