"""Sweeps on a Dask cluster (pip install 'pairbot[cluster]'): the same chunks as on local threads, on its workers.

Each strategy's book (market columns, targets, schedules: a few MB) goes to every worker once; then each chunk
is a task of its parameter rows that returns its summary rows, so what crosses the network is small. The
workers run the same loop, compiled on each from the same source with the same flags, so the table is the
local one bit for bit. Workers need pairbot installed, at the same version, and a C compiler (else they run
the plain-Python loop: the same numbers, far slower). distributed is imported only here, only when used.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from bot.errors import ConfigError
from bot.research.backtest.arrays import FloatArray
from bot.research.backtest.chunks import Book, Chunk, run_chunk

CLUSTER_CHUNK = 512  # rows per task: a few ms of loop each, against about a ms of scheduling per task
INSTALL_HINT = "sweeps on a cluster need Dask's distributed: pip install 'pairbot[cluster]'"


class DaskExecutor:
    """Chunks as tasks of a distributed.Client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @property
    def workers(self) -> int:
        threads: dict[str, int] = self.client.nthreads()
        return max(1, sum(threads.values()))

    def submit(self, books: Sequence[Book], chunks: Sequence[Chunk]) -> Iterator[tuple[Chunk, FloatArray]]:
        shared = self.client.scatter(list(books), broadcast=True, hash=False)
        futures = {self.client.submit(run_chunk, shared[c.book], c.params, c.starting_cash, pure=False): c
                   for c in chunks}
        return self._gather(futures, shared)

    def _gather(self, futures: dict[Any, Chunk], shared: list[Any]) -> Iterator[tuple[Chunk, FloatArray]]:
        from distributed import as_completed  # type: ignore[attr-defined,unused-ignore]

        try:
            for done in as_completed(futures):  # type: ignore[no-untyped-call]
                yield futures[done], done.result()
        finally:
            self.client.cancel([*futures, *shared])


@contextmanager
def connect(address: str, *, timeout_s: float = 30.0) -> Iterator[DaskExecutor]:
    """A DaskExecutor on the scheduler at `address` (tcp://host:8786), closed on leaving."""
    try:
        from distributed import Client
    except ImportError as err:
        raise ConfigError(INSTALL_HINT) from err
    try:
        client = Client(address, timeout=timeout_s)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as err:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {err}") from err
    except ValueError as err:  # distributed's own parse of the address ("missing port number")
        raise ConfigError(f"--cluster {address}: not a Dask scheduler address ({err}); e.g. tcp://host:8786") from err
    try:
        yield DaskExecutor(client)
    finally:
        client.close()  # type: ignore[no-untyped-call]
