"""Constants and row layouts shared by the loop's two implementations (loop.c, pyloop.py) and its driver."""

from __future__ import annotations

TIE = 1e-9  # relative distance from a boundary at which a float decision is re-checked in Decimal
WEIGHT_TIE = 1e-12  # the same for a weight's (or a book measure's) distance from its band
OVER_NO, OVER_YES, OVER_TIE = 0, 1, 2
NEED_NONE, NEED_BREACH, NEED_SHARES = 0, 1, 2
SPLIT_STEPS = 1e9  # a split's product of shares is kept to 9 decimals, Alpaca's quantum (and Decimal's product)

# A variant's parameter row (V, P_LEN): the bands (inf: none), costs in bps, and which target and schedule rows.
P_LEG, P_GROSS, P_NET, P_EFFECTIVE, P_COMMISSION, P_SLIPPAGE, P_BORROW, P_MIN_TRADE, P_RESERVE = range(9)
P_FRACTIONAL, P_TARGET_ROW, P_DUE_ROW, P_LEN = 9, 10, 11, 12
# A variant's state row (V, S_LEN + 2N), as of the end of session start - 1: then q (N) and force_q (N).
S_CASH, S_FLOW, S_START, S_FORCE_BREACH, S_HAS_FORCE_Q, S_NEED, S_NEED_EQUITY, S_LEN = range(8)
# A variant's summary row (V, M_LEN): tallies and counts, then its curve's statistics (C_* from M_CURVE).
M_TRADED, M_COSTS, M_BORROW, M_REBALANCES, M_DECISIONS, M_CURVE = range(6)
C_MEAN_EQUITY, C_R_MEAN, C_R_SD, C_X_MEAN, C_X_SD, C_DOWNSIDE, C_DRAWDOWN, C_FIRST, C_LAST = range(9)
C_PEAK, C_TROUGH, C_RECOVERY, C_LEN = 9, 10, 11, 12  # the deepest drawdown's sessions (-1: not recovered)
M_LEN = M_CURVE + C_LEN
# A recorded trade (K, R_LEN + 3N): variant row, session, commission; then shares, fill prices, paid prices.
R_ROW, R_DAY, R_COMMISSION, R_LEN = range(4)
