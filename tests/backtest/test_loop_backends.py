"""The C loop (loop.c via cloop.py) and the plain-Python one (pyloop.py) make the same decisions, bit for bit."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.research import metrics
from bot.research.backtest import backend, cloop, codes, pyloop
from bot.research.backtest.astraded import HoldingSplits
from bot.research.backtest.codes import NEED_BREACH, NEED_SHARES, S_NEED
from bot.research.backtest.kernel import KernelResult, Market, Variants, run_kernel
from bot.research.backtest.loopargs import LoopArgs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def c_loop() -> cloop.CLoop:
    loaded = cloop.load()
    if loaded is None:
        pytest.skip(f"the C loop cannot be built here: {cloop.build_error()}")
    return loaded


@pytest.fixture(scope="module")
def py_loop() -> Any:
    return backend.by_name("python")


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
    for name in ("equity", "traded_usd", "costs_usd", "borrow_usd", "rebalances", "decisions", "curves", "held",
                 "exposure"):
        x, y = getattr(a, name), getattr(b, name)
        np.testing.assert_array_equal(x, y, err_msg=name, strict=True)
        assert x is None or x.tobytes() == y.tobytes(), name  # the signs of zeros too
    assert len(a.trades) == len(b.trades)
    for x, y in zip(a.trades, b.trades, strict=True):
        for name in ("rows", "days", "shares", "prices", "paid", "commission"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name), err_msg=name, strict=True)


@pytest.mark.parametrize("seed", range(8))
def test_c_and_python_runs_are_identical(
    seed: int, c_loop: cloop.CLoop, py_loop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    market, variants, next_open = random_case(seed)

    c_out = run_with(monkeypatch, c_loop, market, variants, next_open)
    py_out = run_with(monkeypatch, py_loop, market, variants, next_open)

    assert_same(c_out, py_out)
    assert int(c_out.decisions.sum()) > 0


class Spy:
    """A loop that runs `loop` and keeps a copy of every array after each call of its runner."""

    def __init__(self, loop: Any, *, blank_equity: bool = True) -> None:
        self.name, self.loop, self.calls = loop.name, loop, list[tuple[np.ndarray, ...]]()
        self.blank_equity = blank_equity

    def runner(self, args: LoopArgs) -> Any:
        if self.blank_equity:  # equity is np.empty: sessions after a stop are unwritten until the resume
            args.equity.fill(np.nan)
        run = self.loop.runner(args)

        def spied(rows: np.ndarray) -> None:
            run(rows)
            self.calls.append((rows.copy(), *(np.array(getattr(args, f), copy=True) for f in
                                              ("state", "equity", "summary", "n_trades"))))

        return spied


def test_both_stop_at_the_same_ties(c_loop: cloop.CLoop, py_loop: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call of the loop: the same rows stop at the same sessions with the same needs and the same state."""
    spies = {"c": Spy(c_loop), "python": Spy(py_loop)}

    for spy in spies.values():
        for seed in range(8, 12):
            market, variants, next_open = random_case(seed)
            with monkeypatch.context() as patch:
                patch.setattr(backend, "get", lambda spy=spy: spy)
                run_kernel(market, variants, fill="next_open" if next_open else "close", record=True)

    c_calls, py_calls = spies["c"].calls, spies["python"].calls
    assert len(c_calls) == len(py_calls) > 4  # some variants stopped for Decimal and resumed
    for c_arrays, py_arrays in zip(c_calls, py_calls, strict=True):
        for x, y in zip(c_arrays, py_arrays, strict=True):
            np.testing.assert_array_equal(x, y, strict=True)


def one_leg(prices: list[float], *, band: float, net_band: float = np.inf) -> tuple[Market, Variants]:
    px = np.array(prices)[:, None]
    t = len(prices)
    market = Market(px, px, np.zeros(t), np.ones(t), np.ones((1, 1)))
    due = np.zeros((1, t), dtype=np.bool_)
    due[0, 0] = True
    one = np.zeros(1, dtype=np.intp)

    def col(x: float) -> np.ndarray:
        return np.full(1, x)

    variants = Variants(np.array([[0.5]]), one, due, one, col(band), col(np.inf), col(net_band), col(np.inf),
                        col(0.0), col(0.0), col(0.0), col(0.0), col(0.0), col(100_000.0), np.array([False]))
    return market, variants


def needs_of(loop: Any, market: Market, variants: Variants, next_open: bool,
             monkeypatch: pytest.MonkeyPatch) -> tuple[KernelResult, list[int]]:
    spy = Spy(loop, blank_equity=False)
    with monkeypatch.context() as patch:
        patch.setattr(backend, "get", lambda: spy)
        out = run_kernel(market, variants, fill="next_open" if next_open else "close", record=True)
    return out, [int(need) for call in spy.calls for need in call[1][:, S_NEED]]


@pytest.mark.parametrize("band", [0.1, 0.0999])
@pytest.mark.parametrize("next_open", [False, True])
def test_a_drift_tie_stops_both_for_decimal(
    band: float, next_open: bool, c_loop: cloop.CLoop, py_loop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """500 shares at 150 with 50,000 cash weigh exactly 0.6: a band of 0.1 is a tie the floats cannot settle."""
    market, variants = one_leg([100.0, 150.0, 151.0, 149.0], band=band)

    c_out, needs = needs_of(c_loop, market, variants, next_open, monkeypatch)
    py_out, py_needs = needs_of(py_loop, market, variants, next_open, monkeypatch)

    assert_same(c_out, py_out)
    assert needs == py_needs
    assert NEED_SHARES in needs  # 0.5 x 100,000 / 100 is a whole-share tie too
    assert (NEED_BREACH in needs) == (band == 0.1 and not next_open)  # next-open fills at the open: no tie


@pytest.mark.parametrize("net_band", [0.1, 0.0999])
def test_a_book_tie_stops_both_for_decimal(
    net_band: float, c_loop: cloop.CLoop, py_loop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same book's net exposure is 0.6 against 0.5: exactly on a 10pp net band, which only Decimal can say."""
    market, variants = one_leg([100.0, 150.0, 151.0], band=np.inf, net_band=net_band)

    c_out, needs = needs_of(c_loop, market, variants, False, monkeypatch)
    py_out, _ = needs_of(py_loop, market, variants, False, monkeypatch)

    assert_same(c_out, py_out)
    assert (NEED_BREACH in needs) == (net_band == 0.1)
    assert c_out.trades[0].days.tolist() == ([0, 2] if net_band == 0.1 else [0, 1])


def test_curve_stats_and_row_helpers_agree(c_loop: cloop.CLoop, py_loop: Any) -> None:
    rng = np.random.default_rng(3)
    equity = 100_000 * np.cumprod(1 + rng.normal(0.0003, 0.012, size=(6, 500)), axis=1)
    equity[5, 200:] = equity[5, 199]  # a flat stretch
    equity[4, 300:] = -equity[4, 300:]  # a ruined book
    cash = np.concatenate(([0.0], np.full(499, 0.0001)))
    for width in (500, 2, 1):
        outs = [np.empty((6, codes.C_LEN)) for _ in range(2)]
        curves = np.ascontiguousarray(equity[:, :width])
        c_loop.curve_stats(curves, cash, outs[0])
        py_loop.curve_stats(curves, cash, outs[1])
        np.testing.assert_array_equal(outs[0], outs[1])
        for row, got in zip(curves, outs[0], strict=True):
            dd = metrics.worst_drawdown(row)
            peak, trough, back = (int(x) for x in got[[codes.C_PEAK, codes.C_TROUGH, codes.C_RECOVERY]])
            assert (peak, trough, None if back < 0 else back) == (dd.peak, dd.trough, dd.recovery)

    for _ in range(300):
        n = int(rng.integers(1, 5))
        held = rng.integers(-500, 500, size=n) * rng.choice([1.0, 1.0, 0.2, 0.25], size=n)  # a split's fractions
        prices = rng.choice([10.0, 25.0, 100.0, 150.0, 333.33], size=n)
        weights = rng.choice([0.0, 0.1, 0.25, -0.5, 0.5], size=n)
        multiples = rng.choice([-3.0, -1.0, 0.0, 1.0, 3.0], size=(n, 2))
        equity_now = float(rng.choice([50_000.0, 100_000.0, 123_456.78]))
        band = float(rng.choice([0.01, 0.1, 0.25]))
        bands = tuple(float(b) for b in rng.choice([0.01, 0.1, np.inf], size=3))
        assert c_loop.leg_over(held, prices, weights, equity_now, band) == \
            py_loop.leg_over(held, prices, weights, equity_now, band)
        assert c_loop.book_over(held, prices, weights, equity_now, bands, multiples) == \
            py_loop.book_over(held, prices, weights, equity_now, bands, multiples)
        args = (held, weights, equity_now, prices, float(rng.choice([0.0, 500.0])), float(rng.choice([0.0, 0.01])),
                bool(rng.random() < 0.2))
        outs = [np.full(n, np.nan) for _ in range(2)]
        assert c_loop.decide_row(*args, outs[0]) == py_loop.decide_row(*args, outs[1])
        np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 16, 23, 130, 300])
def test_row_sums_are_numpys(n: int) -> None:
    """The exposure table's row sums, as numpy's a.sum(axis=1) makes them (pairwise from eight terms)."""
    rng = np.random.default_rng(n)
    rows = rng.normal(size=(50, n)) * 10.0 ** rng.integers(-8, 8, size=(50, n))

    assert [pyloop.row_sum(r) for r in rows.tolist()] == rows.sum(axis=1).tolist()


def test_loop_c_lays_out_its_rows_as_codes_py_says() -> None:
    source = (ROOT / "bot" / "research" / "backtest" / "loop.c").read_text()
    for enum in re.findall(r"enum \{([^}]*)\}", source):
        value = -1
        for item in (x.strip() for x in enum.split(",")):
            name, _, given = item.partition("=")
            name = name.strip()
            value = int(eval(given, {}, vars(codes))) if given.strip() else value + 1  # noqa: S307  # our own enums
            assert getattr(codes, name) == value, name


def test_nothing_imports_numba() -> None:
    """numba is gone: not a dependency, and no module of the tree imports it."""
    assert "numba" not in (ROOT / "pyproject.toml").read_text()
    for folder in ("bot", "strategies", "bench", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                assert not any(n.split(".")[0] == "numba" for n in names), path


def test_no_compiler_falls_back_to_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cloop, "compiler", lambda: None)
    cloop.load.cache_clear()
    backend.by_name.cache_clear()
    try:
        assert cloop.load() is None
        assert "no C compiler" in (cloop.build_error() or "")
        assert backend.by_name("auto") is pyloop
    finally:
        cloop.load.cache_clear()
        backend.by_name.cache_clear()


def test_a_sweep_process_runs_the_c_loop(c_loop: cloop.CLoop) -> None:
    code = "from bot.research.backtest import backend, sweep; print(backend.get().name)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, capture_output=True,
                          text=True, check=True)
    assert done.stdout.split() == ["c"]


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

