"""The C loop (loop.c via cloop.py) and the numba loop (loop.py) make the same decisions, bit for bit."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.backtest import backend, cloop
from bot.backtest.astraded import HoldingSplits
from bot.backtest.codes import NEED_BREACH, NEED_SHARES
from bot.backtest.kernel import KernelResult, Market, Variants, run_kernel

ROOT = Path(__file__).resolve().parents[2]
EQUITY_ARG, NEED_ARG = 27, 30  # simulate(rows, 19 inputs, 7 state arrays, equity, tallies, counts, need, ...)


@pytest.fixture(scope="module")
def c_loop() -> cloop.CLoop:
    loaded = cloop.load()
    if loaded is None:
        pytest.skip(f"the C loop cannot be built here: {cloop.build_error()}")
    return loaded


@pytest.fixture(scope="module")
def numba_loop() -> Any:
    if importlib.util.find_spec("numba") is None:
        pytest.skip("numba is not installed")
    return backend.by_name("numba")


def random_case(seed: int) -> tuple[Market, Variants, bool]:
    """A random market of 1-4 symbols and 12 variants, with round prices and weights so that ties happen."""
    rng = np.random.default_rng(seed)
    t, n, v = int(rng.integers(40, 300)), int(rng.integers(1, 5)), 12
    steps = rng.normal(0.0, 0.03, size=(t, n))
    close = np.round(np.exp(np.cumsum(steps, axis=0)) * rng.choice([10.0, 50.0, 100.0], size=n), 2)
    opens = np.round(close * (1 + rng.normal(0, 0.005, size=(t, n))), 2)
    cash_return = np.concatenate(([0.0], np.full(t - 1, 0.0001)))
    accrual = np.concatenate(([0.0], rng.choice([1.0, 3.0], size=t - 1)))
    multiples = rng.choice([-3.0, -1.0, 0.0, 1.0, 3.0], size=(n, 2))
    market = Market(close, opens, cash_return, accrual, multiples, random_splits(rng, t, n))
    fixed = np.round(rng.uniform(-0.6, 0.6, size=(3, n)), 2)
    targets = fixed if seed % 2 else np.repeat(fixed[:, None, :], t, axis=1) * rng.uniform(0.9, 1.1, size=(3, t, 1))
    due = rng.random((2, t)) < np.array([[0.02], [0.1]])
    due[:, 0] = True

    def pick(*values: float) -> np.ndarray:
        return rng.choice(np.array(values), size=v)

    variants = Variants(
        targets, rng.integers(0, 3, size=v).astype(np.intp), due, rng.integers(0, 2, size=v).astype(np.intp),
        pick(0.01, 0.05, 0.1, np.inf), pick(0.05, 0.2, np.inf, np.inf), pick(0.05, np.inf, np.inf),
        pick(0.1, np.inf, np.inf), pick(0.0, 1.0, 5.0), pick(0.0, 2.0, 10.0), pick(0.0, 50.0, 300.0),
        pick(0.0, 100.0, 1000.0), pick(0.0, 0.02), pick(10_000.0, 100_000.0, 1_234_567.0),
        rng.random(v) < 0.25,
    )
    return market, variants, bool(rng.random() < 0.5)


def random_splits(rng: np.random.Generator, t: int, n: int) -> HoldingSplits:
    """0-4 splits on random sessions (two may share one), reverse ones leaving fractional holdings."""
    e = int(rng.integers(0, 5))
    day = np.sort(rng.integers(1, t, size=e)).astype(np.intp)
    ratio = rng.choice([0.25, 0.2, 0.5, 2.0, 3.0], size=e)
    return HoldingSplits(day, rng.integers(0, n, size=e).astype(np.intp), ratio)


def run_with(monkeypatch: pytest.MonkeyPatch, loop: Any, market: Market, variants: Variants,
             next_open: bool) -> KernelResult:
    with monkeypatch.context() as patch:
        patch.setattr(backend, "get", lambda: loop)
        return run_kernel(market, variants, fill="next_open" if next_open else "close", record=True)


def assert_same(a: KernelResult, b: KernelResult) -> None:
    for name in ("equity", "traded_usd", "costs_usd", "borrow_usd", "rebalances", "decisions"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name, strict=True)
    assert len(a.trades) == len(b.trades)
    for x, y in zip(a.trades, b.trades, strict=True):
        for name in ("rows", "days", "shares", "prices", "paid", "commission"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name), err_msg=name, strict=True)


@pytest.mark.parametrize("seed", range(8))
def test_c_and_numba_runs_are_identical(
    seed: int, c_loop: cloop.CLoop, numba_loop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    market, variants, next_open = random_case(seed)

    c_out = run_with(monkeypatch, c_loop, market, variants, next_open)
    nb_out = run_with(monkeypatch, numba_loop, market, variants, next_open)

    assert_same(c_out, nb_out)
    assert int(c_out.decisions.sum()) > 0


def test_both_stop_at_the_same_ties(c_loop: cloop.CLoop, numba_loop: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """One pass of simulate from the start: the same rows stop at the same sessions with the same needs."""
    calls: dict[str, list[tuple[np.ndarray, ...]]] = {"c": [], "numba": []}

    for loop, key in ((c_loop, "c"), (numba_loop, "numba")):
        real = loop.simulate

        class Spy:
            name = key
            fresh = True

            def simulate(self, *args: Any, _real: Any = real, _key: str = key) -> None:
                if self.fresh:  # equity is np.empty: sessions after a stop are unwritten until the resume
                    args[EQUITY_ARG].fill(np.nan)
                    self.fresh = False
                _real(*args)
                calls[_key].append(tuple(np.array(a, copy=True) for a in args if isinstance(a, np.ndarray)))

        for seed in range(8, 12):
            market, variants, next_open = random_case(seed)
            with monkeypatch.context() as patch:
                patch.setattr(backend, "get", lambda spy=Spy(): spy)
                run_kernel(market, variants, fill="next_open" if next_open else "close", record=True)

    assert len(calls["c"]) == len(calls["numba"]) > 4  # some variants stopped for Decimal and resumed
    for c_arrays, nb_arrays in zip(calls["c"], calls["numba"], strict=True):
        for x, y in zip(c_arrays, nb_arrays, strict=True):
            np.testing.assert_array_equal(x, y, strict=True)


@pytest.mark.parametrize("band", [0.1, 0.0999])
@pytest.mark.parametrize("next_open", [False, True])
def test_a_drift_tie_stops_both_for_decimal(
    band: float, next_open: bool, c_loop: cloop.CLoop, numba_loop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """500 shares at 150 with 50,000 cash weigh exactly 0.6: a band of 0.1 is a tie the floats cannot settle."""
    px = np.array([[100.0], [150.0], [151.0], [149.0]])
    market = Market(px, px, np.zeros(4), np.ones(4), np.ones((1, 1)))
    due = np.zeros((1, 4), dtype=np.bool_)
    due[0, 0] = True
    one = np.zeros(1, dtype=np.intp)

    def col(x: float) -> np.ndarray:
        return np.full(1, x)

    variants = Variants(np.array([[0.5]]), one, due, one, col(band), col(np.inf), col(np.inf), col(np.inf),
                        col(0.0), col(0.0), col(0.0), col(0.0), col(0.0), col(100_000.0), np.array([False]))
    needs: list[int] = []
    real = c_loop.simulate

    class Spy:
        name = "c"

        def simulate(self, *args: Any) -> None:
            real(*args)
            needs.extend(args[NEED_ARG].tolist())

    with monkeypatch.context() as patch:
        patch.setattr(backend, "get", lambda: Spy())
        c_out = run_kernel(market, variants, fill="next_open" if next_open else "close", record=True)
    nb_out = run_with(monkeypatch, numba_loop, market, variants, next_open)

    assert_same(c_out, nb_out)
    assert NEED_SHARES in needs  # 0.5 x 100,000 / 100 is a whole-share tie too
    assert (NEED_BREACH in needs) == (band == 0.1 and not next_open)  # next-open fills at the open: no tie


def test_curve_stats_and_row_helpers_agree(c_loop: cloop.CLoop, numba_loop: Any) -> None:
    rng = np.random.default_rng(3)
    equity = 100_000 * np.cumprod(1 + rng.normal(0.0003, 0.012, size=(6, 500)), axis=1)
    equity[5, 200:] = equity[5, 199]  # a flat stretch
    cash = np.concatenate(([0.0], np.full(499, 0.0001)))
    for width in (500, 2, 1):
        outs = [np.empty((6, 7)) for _ in range(2)]
        c_loop.curve_stats(np.ascontiguousarray(equity[:, :width]), cash, outs[0])
        numba_loop.curve_stats(np.ascontiguousarray(equity[:, :width]), cash, outs[1])
        np.testing.assert_array_equal(outs[0], outs[1])

    for _ in range(300):
        n = int(rng.integers(1, 5))
        held = rng.integers(-500, 500, size=n) * rng.choice([1.0, 1.0, 0.2, 0.25], size=n)  # a split's fractions
        prices = rng.choice([10.0, 25.0, 100.0, 150.0, 333.33], size=(3, n))
        targets = rng.choice([0.0, 0.1, 0.25, -0.5, 0.5], size=(2, 3, n))
        weights = np.ascontiguousarray(targets[0, 0])
        equity_now = float(rng.choice([50_000.0, 100_000.0, 123_456.78]))
        band = float(rng.choice([0.01, 0.1, 0.25]))
        for t in range(3):
            over = [loop.leg_over(held, prices, t, targets, 1, t, equity_now, band) for loop in (c_loop, numba_loop)]
            assert over[0] == over[1]
        args = (held, weights, equity_now, np.ascontiguousarray(prices[0]), float(rng.choice([0.0, 500.0])),
                float(rng.choice([0.0, 0.01])), bool(rng.random() < 0.2))
        outs = [np.full(n, np.nan) for _ in range(2)]
        assert c_loop.decide_row(*args, outs[0]) == numba_loop.decide_row(*args, outs[1])
        np.testing.assert_array_equal(outs[0], outs[1])


def test_a_sweep_process_does_not_import_numba(c_loop: cloop.CLoop) -> None:
    code = ("import sys; from bot.backtest import backend, sweep; "
            "print(backend.get().name, 'numba' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "PAIRBOT_LOOP"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["c", "False"]


def test_no_compiler_falls_back_to_numba(
    numba_loop: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cloop, "compiler", lambda: None)
    cloop.load.cache_clear()
    backend.by_name.cache_clear()
    try:
        assert cloop.load() is None
        assert "no C compiler" in (cloop.build_error() or "")
        assert backend.by_name("auto") is numba_loop
    finally:
        cloop.load.cache_clear()
        backend.by_name.cache_clear()


def test_a_failing_compile_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cloop, "compiler", lambda: [sys.executable, "-c", "import sys; sys.exit(3)", "--"])
    monkeypatch.setattr(cloop, "cache_dirs", lambda: [tmp_path / "a", tmp_path / "b"])
    cloop.load.cache_clear()
    try:
        assert cloop.load() is None
        assert "failed (3)" in (cloop.build_error() or "")
        assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no half-written library left behind
    finally:
        cloop.load.cache_clear()


def test_compiles_into_the_next_writable_cache(c_loop: cloop.CLoop, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    monkeypatch.setattr(cloop, "cache_dirs", lambda: [blocked, tmp_path / "cache"])
    cloop.load.cache_clear()
    try:
        built = cloop.load()
        assert built is not None and built.path.parent == tmp_path / "cache"
        assert [p.name for p in (tmp_path / "cache").iterdir()] == [built.path.name]
    finally:
        cloop.load.cache_clear()

