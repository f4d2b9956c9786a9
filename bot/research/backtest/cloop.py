"""loop.c, compiled on first use with the system C compiler and called through ctypes on numpy arrays.

The shared library is cached under a name keyed by a hash of the source, the compiler command and its
flags, first in this package's __pycache__ and else in $XDG_CACHE_HOME/pairbot (~/.cache/pairbot).
It is compiled to a private temporary file and renamed into place, so processes that compile at once
(pytest-xdist workers) each load a complete library. load() returns None, with the reason in
build_error(), when there is no compiler or compiling fails: backend.py then falls back to pyloop.py.

The flags keep Python's float semantics: no fast-math, and no contraction of a * b + c into a fused
multiply-add (which Python never does), so the C loop and the plain-Python one make the same decisions.
ctypes releases the GIL for each call, so sweeps run the loop on several threads at once.
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

from bot.research.backtest.codes import (
    C_LEN,
    M_LEN,
    P_DUE_ROW,
    P_LEN,
    P_TARGET_ROW,
    R_LEN,
    S_LEN,
    SPLIT_STEPS,
    TIE,
    WEIGHT_TIE,
)
from bot.research.backtest.loopargs import LoopArgs, Runner

SOURCE = Path(__file__).with_name("loop.c")
FLAGS = ("-O2", "-shared", "-fPIC", "-std=c99", "-fno-fast-math", "-ffp-contract=off",
         f"-DPAIRBOT_TIE={TIE!r}", f"-DPAIRBOT_WEIGHT_TIE={WEIGHT_TIE!r}", f"-DPAIRBOT_SPLIT_STEPS={SPLIT_STEPS!r}")
COMPILE_TIMEOUT_S = 120

_errors: list[str] = []

_P = ctypes.c_void_p
_I = ctypes.c_int64
_D = ctypes.c_double
_F64, _I64, _I8, _BOOL = (np.dtype(t) for t in (np.float64, np.int64, np.int8, np.bool_))


def _in(a: np.ndarray | None, dtype: np.dtype[Any]) -> int:
    """The address of a C-contiguous array of `dtype` (np.ctypeslib.ndpointer's checks, at a third of its cost);
    0 (NULL) for None."""
    if a is None:
        return 0
    if a.dtype != dtype or not a.flags.c_contiguous:
        raise TypeError(f"expected a C-contiguous {dtype} array, got {a.dtype} with flags {a.flags}")
    if a.size and a.flags.writeable:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))  # type: ignore[arg-type]  # numpy has the buffer protocol
    return int(a.ctypes.data)


def _out(a: np.ndarray | None, dtype: np.dtype[Any]) -> int:
    if a is not None and not a.flags.writeable:
        raise TypeError("expected a writeable array")
    return _in(a, dtype)


class _Args(ctypes.Structure):
    """loop.c's pb_args: sizes, then pointers."""

    _fields_ = [(name, _I) for name in ("t_len", "n", "u_len", "e_len", "tt_len", "n_rows", "k_cap", "next_open",
                                         "record", "stats")] + \
               [(name, _P) for name in ("close", "opens", "cash_return", "accrual_days", "multiples", "split_day",
                                        "split_col", "split_ratio", "targets", "due", "params", "rows", "state",
                                        "equity", "summary", "trades", "n_trades", "held", "exposure")]


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
    """The C functions behind the loop's interface (pyloop.py has the same in Python)."""

    name = "c"

    def __init__(self, lib: ctypes.CDLL, path: Path) -> None:
        self.path = path
        self._run = lib.pb_run
        self._run.restype = ctypes.c_int
        self._run.argtypes = [ctypes.POINTER(_Args)]
        self._curve_stats = lib.pb_curve_stats
        self._curve_stats.restype = ctypes.c_int
        self._curve_stats.argtypes = [_I, _I, _P, _P, _P]
        self._leg_over = lib.pb_leg_over
        self._leg_over.restype = ctypes.c_int
        self._leg_over.argtypes = [_I, _P, _P, _P, _D, _D]
        self._book_over = lib.pb_book_over
        self._book_over.restype = ctypes.c_int
        self._book_over.argtypes = [_I, _I, _P, _P, _P, _D, _D, _D, _D, _P]
        self._decide_row = lib.pb_decide_row
        self._decide_row.restype = ctypes.c_int
        self._decide_row.argtypes = [_I, _P, _P, _D, _P, _D, _D, ctypes.c_int, _P]

    def runner(self, a: LoopArgs) -> Runner:
        """A function that runs the loop over some rows of `a`, its arguments marshalled once here."""
        t_len, n = a.close.shape
        v_len = a.state.shape[0]
        check_shapes(a)
        args = _Args(t_len, n, a.multiples.shape[1], a.split_day.shape[0], a.targets.shape[1], 0,
                     0 if a.trades is None else a.trades.shape[0], a.next_open, a.record, a.stats,
                     *(_in(x, _F64) for x in (a.close, a.opens, a.cash_return, a.accrual_days, a.multiples)),
                     _in(a.split_day, _I64), _in(a.split_col, _I64), _in(a.split_ratio, _F64),
                     _in(a.targets, _F64), _in(a.due, _BOOL), _in(a.params, _F64), 0,
                     *(_out(x, _F64) for x in (a.state, a.equity, a.summary, a.trades)), _out(a.n_trades, _I64),
                     _out(a.held, _F64), _out(a.exposure, _F64))
        pointer = ctypes.byref(args)

        def run(rows: np.ndarray) -> None:
            if rows.dtype != _I64 or rows.ndim != 1 or (rows.size and (rows.min() < 0 or rows.max() >= v_len)):
                raise ValueError("run: rows must be int64 indexes of the state's rows")
            args.n_rows, args.rows = rows.size, _in(rows, _I64)
            status = self._run(pointer)
            if status == -2:
                raise IndexError("run: more trades than the trade array holds")
            if status != 0:
                raise MemoryError("run: out of memory")

        return run

    def curve_stats(self, equity: np.ndarray, cash_return: np.ndarray, out: np.ndarray) -> None:
        v_len, t_len = equity.shape
        if out.shape != (v_len, C_LEN) or cash_return.shape[0] < t_len or t_len == 0:
            raise ValueError("curve_stats: arrays disagree in shape")
        if self._curve_stats(v_len, t_len, _in(equity, _F64), _in(cash_return, _F64), _out(out, _F64)) != 0:
            raise MemoryError("curve_stats: out of memory")

    def leg_over(self, q: np.ndarray, prices: np.ndarray, targets: np.ndarray, equity: float, band: float) -> int:
        n = q.shape[0]
        if prices.shape != (n,) or targets.shape != (n,):
            raise ValueError("leg_over: arrays disagree in shape")
        return int(self._leg_over(n, _in(q, _F64), _in(prices, _F64), _in(targets, _F64), equity, band))

    def book_over(self, q: np.ndarray, prices: np.ndarray, targets: np.ndarray, equity: float,  # noqa: PLR0913
                  bands: tuple[float, float, float], multiples: np.ndarray) -> int:
        n = q.shape[0]
        if prices.shape != (n,) or targets.shape != (n,) or multiples.ndim != 2 or multiples.shape[0] != n:
            raise ValueError("book_over: arrays disagree in shape")
        return int(self._book_over(n, multiples.shape[1], _in(q, _F64), _in(prices, _F64), _in(targets, _F64),
                                   equity, *bands, _in(multiples, _F64)))

    def decide_row(self, held: np.ndarray, weights: np.ndarray, equity: float, prices: np.ndarray, min_trade: float,
                   reserve: float, fractional: bool, out: np.ndarray) -> bool:
        n = held.shape[0]
        if weights.shape != (n,) or prices.shape != (n,) or out.shape != (n,):
            raise ValueError("decide_row: arrays disagree in shape")
        return bool(self._decide_row(n, _in(held, _F64), _in(weights, _F64), equity, _in(prices, _F64), min_trade,
                                     reserve, bool(fractional), _out(out, _F64)))


def check_shapes(a: LoopArgs) -> None:
    """The loop reads and writes by these shapes; refuse any that disagree before it runs."""
    t_len, n = a.close.shape
    v_len = a.state.shape[0]
    e_len = a.split_day.shape[0]
    s_len, f_len = a.targets.shape[0], a.due.shape[0]
    fine = (a.opens.shape == (t_len, n) and a.cash_return.shape == (t_len,) and a.accrual_days.shape == (t_len,)
            and a.multiples.ndim == 2 and a.multiples.shape[0] == n and a.targets.ndim == 3
            and a.targets.shape[2] == n and a.targets.shape[1] in (1, t_len) and a.due.shape == (f_len, t_len)
            and a.params.shape == (v_len, P_LEN) and a.state.shape == (v_len, S_LEN + 2 * n)
            and a.equity.shape == (v_len, t_len) and a.summary.shape == (v_len, M_LEN)
            and a.split_col.shape == (e_len,) and a.split_ratio.shape == (e_len,) and a.n_trades.shape == (1,))
    if a.record:
        fine = fine and a.trades is not None and a.trades.shape[1:] == (R_LEN + 3 * n,) and a.held is not None \
            and a.held.shape == (v_len, t_len, n) and a.exposure is not None and a.exposure.shape == (v_len, 2, t_len)
    if not fine:
        raise ValueError("loop: arrays disagree in shape")
    if e_len and (a.split_col.min() < 0 or a.split_col.max() >= n):
        raise ValueError("loop: split column out of range")
    rows_of = a.params[:, [P_TARGET_ROW, P_DUE_ROW]]
    if v_len and (rows_of.min() < 0 or rows_of[:, 0].max() >= s_len or rows_of[:, 1].max() >= f_len):
        raise ValueError("loop: target or schedule row out of range")
