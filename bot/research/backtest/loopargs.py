"""What the loop reads and writes, as one value: the market, the variants' parameters, their state and outputs.

Layouts of the parameter, state, summary and trade rows are in codes.py. Both implementations (cloop.py's C,
pyloop.py's Python) take a LoopArgs and return a Runner: a function of the rows to run, called again with the
rows that stopped once the driver (kernel.py) has settled them in Decimal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bot.research.backtest.arrays import BoolArray, FloatArray

Runner = Callable[[np.ndarray], None]


@dataclass(frozen=True, slots=True)
class LoopArgs:
    close: FloatArray  # (T, N) marks, decision prices and close fills
    opens: FloatArray  # (T, N) next-open fills (the closes where every fill is at the close)
    cash_return: FloatArray  # (T,)
    accrual_days: FloatArray  # (T,)
    multiples: FloatArray  # (N, U)
    split_day: np.ndarray  # (E,) int64, sorted
    split_col: np.ndarray  # (E,) int64
    split_ratio: FloatArray  # (E,)
    targets: FloatArray  # (S, 1 or T, N)
    due: BoolArray  # (F, T)
    params: FloatArray  # (V, P_LEN)
    state: FloatArray  # (V, S_LEN + 2N), read and written
    equity: FloatArray  # (V, T), written
    summary: FloatArray  # (V, M_LEN), accumulated
    n_trades: np.ndarray  # (1,) int64, trades recorded so far
    next_open: bool
    record: bool  # keep the trades, the shares held and the exposure at each close
    stats: bool  # each finished row's curve statistics into its summary
    trades: FloatArray | None = None  # (K, R_LEN + 3N) when record
    held: FloatArray | None = None  # (V, T, N) when record
    exposure: FloatArray | None = None  # (V, 2, T) gross, net when record
