"""Paper/backtest parity: replay history through the local exchange and the real runner, then compare
final equity and trades with the backtest on the same prices and costs."""

from __future__ import annotations

import dataclasses
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd

from bot.adapters.exchange import ExchangeSettings, LocalExchange
from bot.adapters.history.splits import SPLITS_FILE
from bot.adapters.ledger import Ledger
from bot.config import Config
from bot.core.corporate import Split, split_factor
from bot.core.domain import NEW_YORK, Symbol
from bot.errors import BotError, DataError
from bot.live.context import RunContext
from bot.live.runner import rebalance_once
from bot.live.wiring import Endpoint, broker_for
from bot.research.backtest import BacktestSettings, run_backtest
from bot.research.backtest.astraded import as_traded
from bot.research.backtest.engine import BacktestResult, backtest_market
from bot.research.backtest.market import build_market
from strategies.base import Strategy

CENT = Decimal("0.01")
QTY_QUANTUM = Decimal("0.000000001")  # Alpaca and the exchange keep quantities to 9 decimals
PRICE_DP = 2  # cents: the local exchange marks positions at cent prices, so replayed prices are exact
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    sessions: int
    start: date
    end: date
    paper_equity: Decimal
    backtest_equity: float
    paper_trades: pd.DataFrame  # date, symbol, qty (signed), one row per day and symbol
    backtest_trades: pd.DataFrame
    failures: tuple[str, ...] = field(default=())
    seconds: float = 0.0
    requests: int = 0
    splits: tuple[str, ...] = ()  # the splits inside the range, applied on both sides ("PSQ 2024-04-10 1-for-5")

    @property
    def equity_difference(self) -> float:
        return float(self.paper_equity) - self.backtest_equity

    @property
    def trades_identical(self) -> bool:
        return bool(self.paper_trades.reset_index(drop=True).equals(self.backtest_trades.reset_index(drop=True)))


def total_return_frames(frames: Mapping[str, pd.DataFrame], start: date, end: date) -> dict[str, pd.DataFrame]:
    """Dividend-adjusted prices (close := adj_close, open/high/low scaled alike) rounded to the exchange's tick,
    cut to [start, end] on the sessions every symbol has, so both sides see exactly the same numbers."""
    common: pd.DatetimeIndex | None = None
    for f in frames.values():
        common = f.index if common is None else common.intersection(f.index)
    if common is None:
        raise DataError("replay needs at least one symbol")
    window = common[(common >= pd.Timestamp(start)) & (common <= pd.Timestamp(end))]
    if len(window) < 2:
        raise DataError(f"replay: fewer than 2 common sessions between {start} and {end}")
    out: dict[str, pd.DataFrame] = {}
    for sym, f in frames.items():
        g = f.loc[window]
        factor = g["adj_close"] / g["close"]
        adjusted = pd.DataFrame({c: (g[c] * factor).round(PRICE_DP) for c in ("open", "high", "low")}, index=window)
        adjusted["close"] = adjusted["adj_close"] = g["adj_close"].round(PRICE_DP)
        adjusted["volume"] = g["volume"]
        if (adjusted["close"] <= 0).any():
            raise DataError(f"{sym}: a price rounds to 0 at {PRICE_DP} decimals; replay cannot trade it")
        out[sym] = adjusted
    return out


def write_csv_dir(frames: Mapping[str, pd.DataFrame], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for sym, f in frames.items():
        f.reset_index().rename(columns={"index": "date"}).to_csv(directory / f"{sym}.csv", index=False,
                                                                 date_format="%Y-%m-%d")


def write_splits(splits: Sequence[Split], directory: Path) -> None:
    rows = ["symbol,date,ratio,kind", *(f"{s.symbol},{s.on},{s.ratio},{'reverse' if s.is_reverse else 'forward'}"
                                       for s in splits)]
    (directory / SPLITS_FILE).write_text("\n".join(rows) + "\n")


def _paper_trades(ledger: Ledger) -> pd.DataFrame:
    rows = [(f.filled_at.astimezone(NEW_YORK).date(), str(f.symbol), f.signed_qty) for f in ledger.fills()]
    return _net_by_day(pd.DataFrame(rows, columns=["date", "symbol", "qty"]))


def _backtest_trades(trades: pd.DataFrame) -> pd.DataFrame:
    signed = [Decimal(repr(float(q))).quantize(QTY_QUANTUM) * (1 if side == "buy" else -1)
              for q, side in zip(trades["qty"], trades["side"], strict=True)]
    dates = [pd.Timestamp(d).date() for d in trades["date"]]
    return _net_by_day(pd.DataFrame({"date": dates, "symbol": list(trades["symbol"]), "qty": signed}))


def _net_by_day(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame(columns=["date", "symbol", "qty"])
    out = df.groupby(["date", "symbol"], sort=True)["qty"].sum().reset_index()
    out["qty"] = [Decimal(q).normalize() + 0 for q in out["qty"]]
    return out[out["qty"] != 0].reset_index(drop=True)


def backtest_settings(config: Config, start: date, end: date, *, slippage_bps: Decimal) -> BacktestSettings:
    sched, lim = config.schedule, config.limits
    return BacktestSettings(
        start=start, end=end, frequency=sched.frequency, leg_band=float(sched.drift_band),
        gross_band=None if sched.gross_band is None else float(sched.gross_band),
        net_band=None if sched.net_band is None else float(sched.net_band),
        effective_band=None if sched.effective_band is None else float(sched.effective_band),
        fill="close", commission_bps=0.0, slippage_bps=float(slippage_bps), borrow_bps=0.0, cash_rate=0.0,
        starting_cash=float(config.backtest.starting_cash), min_trade_usd=float(lim.min_trade_usd),
        cash_reserve=float(lim.cash_reserve), fractional_longs=lim.fractional_longs, benchmarks=(),
    )


def as_traded_cents(prices: Mapping[str, pd.DataFrame], splits: Sequence[Split]) -> dict[str, pd.DataFrame]:
    """Total-return prices as traded (times the later splits' ratios), to the cent: what both sides trade at."""
    out: dict[str, pd.DataFrame] = {}
    for sym, f in prices.items():
        factors = [split_factor(splits, Symbol(sym), ts.date()) for ts in f.index]
        g = f.copy()
        for col in ("open", "high", "low", "close", "adj_close"):
            g[col] = [float((Decimal(repr(float(v))) * k).quantize(CENT)) for v, k in zip(f[col], factors, strict=True)]
        out[sym] = g
    return out


def split_adjusted(traded: Mapping[str, pd.DataFrame], splits: Sequence[Split]) -> dict[str, pd.DataFrame]:
    """The inverse, for the exchange's price directory beside splits.csv: its marks (x factor, to the cent)
    give back exactly the cents of `traded`."""
    out: dict[str, pd.DataFrame] = {}
    for sym, f in traded.items():
        factors = [split_factor(splits, Symbol(sym), ts.date()) for ts in f.index]
        g = f.copy()
        for col in ("open", "high", "low", "close", "adj_close"):
            g[col] = [float(Decimal(repr(float(v))) / k) for v, k in zip(f[col], factors, strict=True)]
        out[sym] = g
    return out


def _backtest(strategy: Strategy, traded: Mapping[str, pd.DataFrame], splits: Sequence[Split],
              settings: BacktestSettings) -> BacktestResult:
    """The backtest on the very cents the exchange marks, its holdings split as the exchange splits them."""
    if not splits:
        return run_backtest(strategy, traded, settings)
    priced = build_market(traded, tuple(sorted(strategy.universe)), strategy.vehicles, start=settings.start,
                          end=settings.end, opens=False)
    found = as_traded(priced.dates, priced.symbols, splits)
    priced = dataclasses.replace(priced, market=dataclasses.replace(priced.market, splits=found.holding_splits),
                                 as_traded=found)
    return backtest_market(strategy, traded, priced, settings)


LEDGER = "ledger-replay.sqlite"  # in the workdir; each replay needs a fresh one (it starts from a new account)


def replay(config: Config, strategy: Strategy, frames: Mapping[str, pd.DataFrame], *, start: date, end: date,
           workdir: Path, slippage_bps: Decimal = Decimal(0), progress: Progress | None = None,
           splits: Sequence[Split] = ()) -> ReplayResult:
    """Each session: move the exchange's replay clock there, then run the real rebalance protocol over HTTP.

    With `splits` (the frames are split-adjusted and these are their splits) both sides trade at as-traded
    prices and apply the splits inside the range to the holdings: the exchange books them as Alpaca does.
    """
    chosen = tuple(s for s in splits if start < s.on <= end)  # booked during the replay
    later = tuple(s for s in splits if s.on > start)  # these set the as-traded price level, on both sides
    prices = as_traded_cents(total_return_frames(frames, start, end), later) if later else \
        total_return_frames(frames, start, end)
    sessions = [ts.date() for ts in next(iter(prices.values())).index]
    key, secret = "LOCALREPLAY" + secrets.token_hex(4).upper(), secrets.token_urlsafe(16)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_csv_dir(split_adjusted(prices, later) if later else prices, Path(tmp))
        if later:
            write_splits(later, Path(tmp))
        settings = ExchangeSettings(state_path=None, api_key=key, secret_key=secret, clock="replay", prices=Path(tmp),
                                    replay_start=sessions[0], starting_cash=config.backtest.starting_cash,
                                    half_spread_bps=slippage_bps, partial_fill_probability=0.0)
        with LocalExchange(settings) as ex, Ledger(workdir / LEDGER) as ledger:
            cfg = config.model_copy(update={"mode": "paper"})
            broker = broker_for(cfg, Endpoint(api_key=key, secret_key=secret, base_url=ex.base_url,
                                              data_url=ex.base_url))
            failures = _drive(ex, cfg, strategy, broker, ledger, sessions, progress)
            paper_equity = broker.snapshot(strategy.universe).equity
            paper = _paper_trades(ledger)
            requests = len(ex.requests)
    seconds = time.perf_counter() - started
    result = _backtest(strategy, prices, later, backtest_settings(config, start, end, slippage_bps=slippage_bps))
    return ReplayResult(sessions=len(sessions), start=sessions[0], end=sessions[-1], paper_equity=paper_equity,
                        backtest_equity=float(result.equity.iloc[-1]), paper_trades=paper,
                        backtest_trades=_backtest_trades(result.trades), failures=tuple(failures),
                        seconds=seconds, requests=requests,
                        splits=tuple(f"{s.symbol} {s.on} {s.describe()}" for s in chosen))


def _drive(ex: LocalExchange, cfg: Config, strategy: Strategy, broker: object, ledger: Ledger,
           sessions: list[date], progress: Progress | None) -> list[str]:
    failures: list[str] = []
    for i, day in enumerate(sessions):
        if i:
            ex.set_date(day)
        ctx = RunContext(config=cfg, strategy=strategy, broker=broker, ledger=ledger,  # type: ignore[arg-type]
                         run_id=f"replay-{day:%Y%m%d}", now=lambda: datetime.now(UTC), sleep=time.sleep)
        try:
            rebalance_once(ctx, execute=True)
        except BotError as err:
            failures.append(f"{day}: {err}")
        if progress is not None:
            progress(i + 1, len(sessions))
    ex.settle()
    return failures
