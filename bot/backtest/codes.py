"""Constants shared by the loop's two backends (loop.c and loop.py) and the Decimal driver; no numba here."""

from __future__ import annotations

TIE = 1e-9  # relative distance from a boundary at which a float decision is re-checked in Decimal
WEIGHT_TIE = 1e-12  # the same for a weight's distance from its band
OVER_NO, OVER_YES, OVER_TIE = 0, 1, 2
NEED_NONE, NEED_BREACH, NEED_SHARES = 0, 1, 2
SPLIT_STEPS = 1e9  # a split's product of shares is kept to 9 decimals, Alpaca's quantum (and Decimal's product)
