"""Which compiled loop runs: the C one (cloop.py) when it builds, else numba's (loop.py), imported only then.

$PAIRBOT_LOOP picks one: "c" (an error if it cannot be built), "numba", or unset/"auto" for C with the
numba fallback. Both expose simulate, curve_stats, leg_over and decide_row with loop.py's signatures.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from bot.backtest import cloop


@cache
def get() -> Any:
    """The loop module or object in use; its `name` is "c" or "numba"."""
    return by_name(os.environ.get("PAIRBOT_LOOP", "auto").strip().lower() or "auto")


@cache
def by_name(name: str) -> Any:
    if name in ("c", "auto"):
        compiled = cloop.load()
        if compiled is not None:
            return compiled
        if name == "c":
            raise RuntimeError(f"PAIRBOT_LOOP=c but the C loop cannot be built: {cloop.build_error()}")
    elif name != "numba":
        raise ValueError(f"PAIRBOT_LOOP must be c, numba or auto, not {name!r}")
    from bot.backtest import loop  # numba: imported only when it runs

    return loop
