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
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Protocol

import numpy as np

from bot.research.backtest import backend
from bot.research.backtest.arrays import BoolArray, FillAt, FloatArray, IntArray
from bot.research.backtest.astraded import HoldingSplits
from bot.research.backtest.codes import P_DUE_ROW, P_TARGET_ROW
from bot.research.backtest.kernel import Market, run_rows
from bot.research.backtest.market import PricedMarket
from strategies.base import Strategy

MIN_CHUNK, MAX_CHUNK = 32, 256  # rows; the larger bounds a chunk's equity scratch (rows x sessions x 8 bytes)
_spare: list[FloatArray] = []  # equity scratch between chunks, kept across sweeps (one per thread that ran at once)
_spare_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Book:
    """One strategy's share of a sweep: the market's columns it trades, its targets, the schedules."""

    market: Market
    targets: FloatArray  # (1, 1 or T, n)
    due: BoolArray  # (F, T)
    fill: FillAt


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
    rows, sessions = params.shape[0], book.market.close.shape[0]
    scratch = _take_scratch(rows * sessions, MAX_CHUNK * sessions)
    try:
        out = run_rows(book.market, book.targets, book.due, params, starting_cash, fill=book.fill,
                       equity=scratch[: rows * sessions].reshape(rows, sessions))
        if out.curves is None:
            raise AssertionError("the loop measures every curve of a sweep")
        return np.column_stack([out.traded_usd, out.costs_usd, out.borrow_usd, out.rebalances, out.decisions,
                                out.curves])
    finally:
        with _spare_lock:
            _spare.append(scratch)


def _take_scratch(size: int, room: int) -> FloatArray:
    """A buffer of at least `size` doubles that no running chunk holds: a fresh one costs its page faults (several
    ms for a chunk's 10 MB, taken one thread at a time), so buffers are reused; a new one has `room`. The loop
    reads a row only after writing it."""
    with _spare_lock:
        fits = [b for b in _spare if b.shape[0] >= size]
        if fits:
            _spare.remove(fits[0])
            return fits[0]
        if _spare:
            _spare.pop()  # too small for this sweep's sessions: let it go
    return np.empty(max(size, room))


class LocalThreads:
    """Chunks on `workers` threads of this process, the caller's among them: the C loop releases the GIL, so each
    has a core, and no thread waits idle for the others (the caller takes chunks too, not only their results)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers if workers is not None else os.cpu_count() or 1)

    def submit(self, books: Sequence[Book], chunks: Sequence[Chunk]) -> Iterator[tuple[Chunk, FloatArray]]:
        backend.get()  # load (or compile) the loop once, before any thread asks for it
        work = _Work(books, chunks)
        helpers = [threading.Thread(target=work.drain, name=f"pairbot-sweep-{k}", daemon=True)
                   for k in range(min(self.workers, len(chunks)) - 1)]
        for h in helpers:
            h.start()
        return work.results(helpers)


class _Work:
    """Chunks to take, one at a time, by any thread; finished ones queue up for the caller."""

    def __init__(self, books: Sequence[Book], chunks: Sequence[Chunk]) -> None:
        self.books, self.todo, self.total = books, deque(chunks), len(chunks)
        self.lock, self.finished = threading.Lock(), SimpleQueue[tuple[Chunk, FloatArray] | BaseException]()

    def take(self) -> Chunk | None:
        with self.lock:
            return self.todo.popleft() if self.todo else None

    def drain(self) -> None:
        while (c := self.take()) is not None:
            try:
                self.finished.put((c, run_chunk(self.books[c.book], c.params, c.starting_cash)))
            except BaseException as err:  # noqa: BLE001  # handed to the caller, which raises it
                self.finished.put(err)
                return

    def results(self, helpers: Sequence[threading.Thread]) -> Iterator[tuple[Chunk, FloatArray]]:
        given = 0
        try:
            while given < self.total:
                c = self.take()
                if c is not None:  # the caller's own chunk
                    yield c, run_chunk(self.books[c.book], c.params, c.starting_cash)
                    given += 1
                while given < self.total and (c is None or not self.finished.empty()):
                    got = self.finished.get()
                    if isinstance(got, BaseException):
                        raise got
                    yield got
                    given += 1
        finally:
            with self.lock:
                self.todo.clear()  # on an error: the helpers stop after their chunk
            for h in helpers:
                h.join()


def books_of(priced: PricedMarket, strategies: Sequence[Strategy], paths: Sequence[FloatArray], due: BoolArray,
             fill: FillAt) -> list[Book]:
    """Each strategy's book on the columns of its own universe: the loop's work scales with the columns, and a
    column a strategy never holds only ever adds exact zeros, so dropping it changes no number."""
    books = []
    markets: dict[tuple[int, ...], Market] = {}  # strategies that trade the same symbols share their columns
    for strategy, path in zip(strategies, paths, strict=True):
        key = tuple(sorted(priced.symbols.index(s) for s in strategy.universe))
        cols = np.array(key, dtype=np.intp)
        if key not in markets:
            markets[key] = priced.market if len(key) == len(priced.symbols) else sub_market(priced.market, cols)
        targets = path[..., cols]
        books.append(Book(markets[key], targets[None] if targets.ndim == 2 else targets[None, None], due, fill))
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
