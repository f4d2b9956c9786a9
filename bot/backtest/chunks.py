"""A sweep's work in pieces: one book per strategy (its own columns of the market), chunks of rows, executors.

A chunk's result is its rows of the loop's summary (codes.py M_*): the tallies and each curve's statistics,
which the loop took as it finished each row, so no equity curve leaves the executor. Each row's numbers do
not depend on the chunk it ran in, nor on the thread, process or machine, so any executor gives the same
table bit for bit (the C loop's float semantics are IEEE's; see cloop.py).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bot.backtest import backend
from bot.backtest.arrays import BoolArray, Fill, FloatArray, IntArray
from bot.backtest.astraded import HoldingSplits
from bot.backtest.codes import P_DUE_ROW, P_TARGET_ROW
from bot.backtest.kernel import Market, run_rows
from bot.backtest.market import PricedMarket
from strategies.base import Strategy

MIN_CHUNK, MAX_CHUNK = 32, 256  # rows; the larger bounds a thread's equity scratch (rows x sessions x 8 bytes)
_scratch = threading.local()


@dataclass(frozen=True, slots=True)
class Book:
    """One strategy's share of a sweep: the market's columns it trades, its targets, the schedules."""

    market: Market
    targets: FloatArray  # (1, 1 or T, n)
    due: BoolArray  # (F, T)
    fill: Fill


@dataclass(frozen=True, slots=True)
class Chunk:
    book: int
    rows: IntArray  # the sweep's rows it runs
    params: FloatArray  # (k, P_LEN), target row 0 (its book's only one)
    starting_cash: FloatArray  # (k,)


class Executor(Protocol):
    """Starts the chunks at once and yields each with its summary rows (k, M_LEN), in any order, as they finish."""

    def submit(self, books: Sequence[Book], chunks: Sequence[Chunk]) -> Iterator[tuple[Chunk, FloatArray]]: ...


def run_chunk(book: Book, params: FloatArray, starting_cash: FloatArray) -> FloatArray:
    """The loop over one chunk: its rows of the summary."""
    out = run_rows(book.market, book.targets, book.due, params, starting_cash, fill=book.fill,
                   equity=_equity_scratch(params.shape[0], book.market.close.shape[0]))
    if out.curves is None:
        raise AssertionError("the loop measures every curve of a sweep")
    return np.column_stack([out.traded_usd, out.costs_usd, out.borrow_usd, out.rebalances, out.decisions,
                            out.curves])


def _equity_scratch(rows: int, sessions: int) -> FloatArray:
    """This thread's equity rows, reused from chunk to chunk: a fresh 10 MB per chunk would cost its page faults,
    which threads take one at a time. The loop reads a row only after writing it."""
    buffer: FloatArray | None = getattr(_scratch, "equity", None)
    if buffer is None or buffer.shape[0] < rows or buffer.shape[1] != sessions:
        buffer = np.empty((max(rows, MAX_CHUNK), sessions))
        _scratch.equity = buffer
    return buffer[:rows]


class LocalThreads:
    """Chunks on threads of this process: the C loop releases the GIL, so each thread has a core."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers if workers is not None else os.cpu_count() or 1)

    def submit(self, books: Sequence[Book], chunks: Sequence[Chunk]) -> Iterator[tuple[Chunk, FloatArray]]:
        backend.get()  # load (or compile) the loop once, before any thread asks for it
        if self.workers == 1 or len(chunks) == 1:
            return ((c, run_chunk(books[c.book], c.params, c.starting_cash)) for c in chunks)
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="pairbot-sweep")
        futures = {pool.submit(run_chunk, books[c.book], c.params, c.starting_cash): c for c in chunks}
        return _as_completed(pool, futures)


def _as_completed(pool: ThreadPoolExecutor, futures: dict[Future[FloatArray], Chunk]
                  ) -> Iterator[tuple[Chunk, FloatArray]]:
    try:
        for done in as_completed(futures):
            yield futures[done], done.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def books_of(priced: PricedMarket, strategies: Sequence[Strategy], paths: Sequence[FloatArray], due: BoolArray,
             fill: Fill) -> list[Book]:
    """Each strategy's book on the columns of its own universe: the loop's work scales with the columns, and a
    column a strategy never holds only ever adds exact zeros, so dropping it changes no number."""
    books = []
    for strategy, path in zip(strategies, paths, strict=True):
        cols = np.array(sorted(priced.symbols.index(s) for s in strategy.universe), dtype=np.intp)
        targets = path[..., cols]
        books.append(Book(sub_market(priced.market, cols), targets[None] if targets.ndim == 2 else targets[None, None],
                          due, fill))
    return books


def sub_market(market: Market, cols: IntArray) -> Market:
    splits = market.splits
    keep = np.isin(splits.column, cols)
    renumbered = np.searchsorted(cols, splits.column[keep]).astype(np.intp)
    return Market(np.ascontiguousarray(market.close[:, cols]),
                  None if market.open is None else np.ascontiguousarray(market.open[:, cols]), market.cash_return,
                  market.accrual_days, np.ascontiguousarray(market.multiples[cols]),
                  HoldingSplits(splits.day[keep], renumbered, splits.ratio[keep]))


def chunks_of(params: FloatArray, starting_cash: FloatArray, size: int) -> list[Chunk]:
    """Rows grouped by strategy (then schedule), cut into chunks of at most `size` within each strategy."""
    order = np.lexsort((params[:, P_DUE_ROW], params[:, P_TARGET_ROW]))
    strategy = params[order, P_TARGET_ROW]
    cuts = np.flatnonzero(np.diff(strategy)) + 1
    out: list[Chunk] = []
    for group in np.split(order, cuts):
        for lo in range(0, len(group), size):
            rows = group[lo : lo + size]
            block = params[rows]
            book = int(block[0, P_TARGET_ROW])
            block[:, P_TARGET_ROW] = 0.0
            out.append(Chunk(book, rows, block, starting_cash[rows]))
    return out


def chunk_size(rows: int, workers: int) -> int:
    """About four chunks per worker, for balance, within MIN_CHUNK..MAX_CHUNK rows."""
    return max(MIN_CHUNK, min(MAX_CHUNK, math.ceil(rows / (4 * max(1, workers)))))
