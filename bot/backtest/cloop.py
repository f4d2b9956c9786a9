"""loop.c, compiled on first use with the system C compiler and called through ctypes on numpy arrays.

The shared library is cached under a name keyed by a hash of the source, the compiler command and its
flags, first in this package's __pycache__ and else in $XDG_CACHE_HOME/pairbot (~/.cache/pairbot).
It is compiled to a private temporary file and renamed into place, so processes that compile at once
(pytest-xdist workers) each load a complete library. load() returns None, with the reason in
build_error(), when there is no compiler or compiling fails: backend.py then falls back to numba.

The flags keep the float semantics of the numba loop: no fast-math, and no contraction of a * b + c
into a fused multiply-add (which numba does not do either), so both make the same decisions.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from bot.backtest.codes import SPLIT_STEPS, TIE, WEIGHT_TIE

SOURCE = Path(__file__).with_name("loop.c")
FLAGS = ("-O2", "-shared", "-fPIC", "-std=c99", "-fno-fast-math", "-ffp-contract=off",
         f"-DPAIRBOT_TIE={TIE!r}", f"-DPAIRBOT_WEIGHT_TIE={WEIGHT_TIE!r}", f"-DPAIRBOT_SPLIT_STEPS={SPLIT_STEPS!r}")
COMPILE_TIMEOUT_S = 120

_errors: list[str] = []

_P = ctypes.c_void_p
_I = ctypes.c_int64
_D = ctypes.c_double
_F64, _I64, _I8, _BOOL = (np.dtype(t) for t in (np.float64, np.int64, np.int8, np.bool_))


def _in(a: np.ndarray, dtype: np.dtype[Any]) -> int:
    """The address of a C-contiguous array of `dtype` (np.ctypeslib.ndpointer's checks, at a third of its cost)."""
    if a.dtype != dtype or not a.flags.c_contiguous:
        raise TypeError(f"expected a C-contiguous {dtype} array, got {a.dtype} with flags {a.flags}")
    if a.size and a.flags.writeable:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))  # type: ignore[arg-type]  # numpy has the buffer protocol
    return int(a.ctypes.data)


def _out(a: np.ndarray, dtype: np.dtype[Any]) -> int:
    if not a.flags.writeable:
        raise TypeError("expected a writeable array")
    return _in(a, dtype)


def compiler() -> list[str] | None:
    """$CC if set, else the first of cc, gcc, clang on PATH."""
    if os.environ.get("CC"):
        return shlex.split(os.environ["CC"])
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return [found]
    return None


def cache_dirs() -> list[Path]:
    """$PAIRBOT_LOOP_CACHE alone when set (the benchmark's cold compile), else __pycache__, then the user cache."""
    if os.environ.get("PAIRBOT_LOOP_CACHE"):
        return [Path(os.environ["PAIRBOT_LOOP_CACHE"])]
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return [Path(__file__).with_name("__pycache__"), Path(base) / "pairbot"]


def library_name(cc: list[str], source: bytes) -> str:
    key = hashlib.sha256(b"\0".join([source, *(a.encode() for a in (*cc, *FLAGS)),
                                     platform.machine().encode(), sys.platform.encode()]))
    return f"pairbot_loop-{key.hexdigest()[:20]}.so"


def build_error() -> str | None:
    """Why load() returned None (the last reason), or None when it did not."""
    return _errors[-1] if _errors else None


@cache
def load() -> CLoop | None:
    """The compiled loop, building it if no cache directory holds it yet; None when that cannot be done."""
    cc = compiler()
    if cc is None:
        _errors.append("no C compiler (cc, gcc or clang) on PATH and $CC unset")
        return None
    try:
        source = SOURCE.read_bytes()
    except OSError as err:
        _errors.append(f"cannot read {SOURCE}: {err}")
        return None
    name = library_name(cc, source)
    for folder in cache_dirs():
        path = folder / name
        if not path.is_file() and not _compile(cc, folder, path):
            continue
        try:
            return CLoop(ctypes.CDLL(str(path)), path)
        except OSError as err:
            _errors.append(f"cannot load {path}: {err}")
    return None


def _compile(cc: list[str], folder: Path, path: Path) -> bool:
    tmp = folder / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([*cc, *FLAGS, "-o", str(tmp), str(SOURCE), "-lm"], capture_output=True, text=True,
                              timeout=COMPILE_TIMEOUT_S, check=False)
        if done.returncode != 0:
            _errors.append(f"{shlex.join(cc)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
            return False
        os.replace(tmp, path)  # atomic: a concurrent compiler's rename wins or loses whole
        return True
    except (OSError, subprocess.SubprocessError) as err:
        _errors.append(f"cannot compile into {folder}: {err}")
        return False
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


class CLoop:
    """The C functions, with loop.py's signatures (shapes are read from the arrays)."""

    name = "c"

    def __init__(self, lib: ctypes.CDLL, path: Path) -> None:
        self.path = path
        self._simulate = lib.pb_simulate
        self._simulate.restype = ctypes.c_int
        self._simulate.argtypes = [_I, _P, _I, _I, _I, _I, *[_P] * 5, _I, *[_P] * 12, ctypes.c_int, ctypes.c_int,
                                   *[_P] * 15, _I]
        self._curve_stats = lib.pb_curve_stats
        self._curve_stats.restype = ctypes.c_int
        self._curve_stats.argtypes = [_I, _I, _P, _P, _P]
        self._leg_over = lib.pb_leg_over
        self._leg_over.restype = ctypes.c_int
        self._leg_over.argtypes = [_I, _P, _P, _I, _P, _I, _I, _I, _D, _D]
        self._decide_row = lib.pb_decide_row
        self._decide_row.restype = ctypes.c_int
        self._decide_row.argtypes = [_I, _P, _P, _D, _P, _D, _D, ctypes.c_int, _P]

    def simulate(  # noqa: PLR0913
        self, rows: np.ndarray, close: np.ndarray, opens: np.ndarray, cash_return: np.ndarray,
        accrual_days: np.ndarray, multiples: np.ndarray, split_day: np.ndarray, split_col: np.ndarray,
        split_ratio: np.ndarray, targets: np.ndarray, target_row: np.ndarray,
        due: np.ndarray, due_row: np.ndarray, bands: np.ndarray, costs_bps: np.ndarray, min_trade: np.ndarray,
        reserve: np.ndarray, fractional: np.ndarray, next_open: bool, record: bool,
        q: np.ndarray, cash: np.ndarray, flow: np.ndarray, start: np.ndarray, force_breach: np.ndarray,
        force_q: np.ndarray, has_force_q: np.ndarray, equity: np.ndarray, tallies: np.ndarray, counts: np.ndarray,
        need: np.ndarray, need_equity: np.ndarray, trades: np.ndarray, trade_at: np.ndarray, n_trades: np.ndarray,
    ) -> None:
        t_len, n = close.shape
        v_len = q.shape[0]
        if targets.ndim != 3 or targets.shape[2] != n or q.shape != (v_len, n) or equity.shape != (v_len, t_len) \
                or trades.shape[1:] != (3, n) or trade_at.shape != (trades.shape[0], 3):
            raise ValueError("simulate: arrays disagree in shape")
        if rows.size and (rows.min() < 0 or rows.max() >= v_len):
            raise ValueError("simulate: row out of range")
        e_len = split_day.shape[0]
        if split_col.shape != (e_len,) or split_ratio.shape != (e_len,):
            raise ValueError("simulate: split arrays disagree in shape")
        if e_len and (split_col.min() < 0 or split_col.max() >= n):
            raise ValueError("simulate: split column out of range")
        status = self._simulate(
            rows.size, _in(rows, _I64), t_len, n, targets.shape[1], multiples.shape[1],
            *(_in(a, _F64) for a in (close, opens, cash_return, accrual_days, multiples)),
            e_len, _in(split_day, _I64), _in(split_col, _I64), _in(split_ratio, _F64), _in(targets, _F64),
            _in(target_row, _I64), _in(due, _BOOL), _in(due_row, _I64),
            *(_in(a, _F64) for a in (bands, costs_bps, min_trade, reserve)), _in(fractional, _BOOL),
            bool(next_open), bool(record),
            _out(q, _F64), _out(cash, _F64), _out(flow, _F64), _out(start, _I64), _out(force_breach, _I8),
            _in(force_q, _F64), _out(has_force_q, _BOOL), _out(equity, _F64), _out(tallies, _F64),
            _out(counts, _I64), _out(need, _I8), _out(need_equity, _F64), _out(trades, _F64), _out(trade_at, _F64),
            _out(n_trades, _I64), trades.shape[0],
        )
        if status == -2:
            raise IndexError("simulate: more trades than the trade arrays hold")
        if status != 0:
            raise MemoryError("simulate: out of memory")

    def curve_stats(self, equity: np.ndarray, cash_return: np.ndarray, out: np.ndarray) -> None:
        v_len, t_len = equity.shape
        if out.shape != (v_len, 7) or cash_return.shape[0] < t_len or t_len == 0:
            raise ValueError("curve_stats: arrays disagree in shape")
        if self._curve_stats(v_len, t_len, _in(equity, _F64), _in(cash_return, _F64), _out(out, _F64)) != 0:
            raise MemoryError("curve_stats: out of memory")

    def leg_over(self, q: np.ndarray, prices: np.ndarray, t: int, targets: np.ndarray, s: int, tt: int,
                 equity: float, band: float) -> int:
        n = q.shape[0]
        if prices.shape[1] != n or targets.shape[2] != n or not (0 <= t < prices.shape[0]) \
                or not (0 <= s < targets.shape[0]) or not (0 <= tt < targets.shape[1]):
            raise ValueError("leg_over: index out of range")
        return int(self._leg_over(n, _in(q, _F64), _in(prices, _F64), t, _in(targets, _F64), targets.shape[1], s, tt,
                                  equity, band))

    def decide_row(self, held: np.ndarray, weights: np.ndarray, equity: float, prices: np.ndarray, min_trade: float,
                   reserve: float, fractional: bool, out: np.ndarray) -> bool:
        n = held.shape[0]
        if weights.shape != (n,) or prices.shape != (n,) or out.shape != (n,):
            raise ValueError("decide_row: arrays disagree in shape")
        return bool(self._decide_row(n, _in(held, _F64), _in(weights, _F64), equity, _in(prices, _F64), min_trade,
                                     reserve, bool(fractional), _out(out, _F64)))
