"""config.yaml, validated once into frozen pydantic models; the only module that imports pydantic."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.core import checks
from bot.core.domain import Symbol, Vehicle
from bot.core.plan import PlanPolicy
from bot.core.window import CLOSE, FORMAT, TradingWindow
from bot.errors import ConfigError
from strategies import STRATEGIES, Hedge, OverlayStrategy, PairStrategy, ReplicaStrategy, Strategy

_UNSHOWN = "unshown"  # an error type whose input is not echoed (a webhook URL may carry a token or a password)


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Fraction = Decimal


def _default(cls: type, name: str) -> Any:
    """A strategy parameter's default, from the strategy's own dataclass: its one home."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[operator]  # a field with neither is not a parameter


def _symbol(value: object) -> object:
    """A fund symbol as written (` iwm`): stripped and upper-cased; anything else fails as a string would."""
    if isinstance(value, str):
        if not value.strip():
            raise PydanticCustomError("symbol", "must be a non-empty symbol")
        return value.strip().upper()
    return value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


Fund = Annotated[Symbol, BeforeValidator(_symbol)]


class StrategySection(Section):
    """A strategy's parameters, validated into the strategy's own types; build() is the strategy itself."""

    strategy: ClassVar[type]

    @model_validator(mode="before")
    @classmethod
    def _none_as_text(cls, data: object) -> object:
        """`--param min_trend_score=none` means null, as YAML's null does."""
        if not isinstance(data, Mapping):
            return data
        return {k: None if isinstance(v, str) and v.strip().lower() in ("none", "null") else v
                for k, v in data.items()}

    def build(self) -> Strategy:
        strategy: Strategy = self.strategy(**{name: getattr(self, name) for name in type(self).model_fields})
        return strategy


class PairParams(StrategySection):
    strategy: ClassVar[type] = PairStrategy

    long_leg: Fund = _default(PairStrategy, "long_leg")
    short_leg: Fund = _default(PairStrategy, "short_leg")
    gross: Decimal = Field(_default(PairStrategy, "gross"), gt=0, le=4)
    hedge: Annotated[Hedge, BeforeValidator(_lower)] = _default(PairStrategy, "hedge")
    inverse: Fund = _default(PairStrategy, "inverse")
    inverse_multiple: Decimal = Field(_default(PairStrategy, "inverse_multiple"), lt=0, ge=-5)
    max_trailing_spread: Decimal | None = Field(_default(PairStrategy, "max_trailing_spread"), ge=-1, le=1)
    lookback_days: int = Field(_default(PairStrategy, "lookback_days"), ge=20, le=2520)
    # hold only while this many trend signs read up
    min_trend_score: int | None = Field(_default(PairStrategy, "min_trend_score"), ge=1, le=3)

    @model_validator(mode="after")
    def _distinct_legs(self) -> PairParams:
        legs = {self.long_leg, self.short_leg} | ({self.inverse} if self.hedge is Hedge.INVERSE else set())
        if len(legs) < (3 if self.hedge is Hedge.INVERSE else 2):
            raise ValueError("long_leg, short_leg and inverse must be different symbols")
        return self


class VehicleSpec(Section):
    underlying: Fund
    multiple: Decimal = Field(..., ge=-5, le=5)


class OverlayParams(StrategySection):
    strategy: ClassVar[type] = OverlayStrategy

    weights: dict[Fund, Decimal] = Field(default_factory=lambda: dict(_default(OverlayStrategy, "weights")))
    vehicle_specs: dict[Fund, VehicleSpec] = Field(default_factory=dict)  # funds beyond the built-in list

    @field_validator("weights")
    @classmethod
    def _weights_sane(cls, v: dict[Symbol, Decimal]) -> dict[Symbol, Decimal]:
        if not v:
            raise ValueError("at least one weight is needed")
        if any(w < 0 for w in v.values()):
            raise ValueError("overlay weights are long holdings and must be >= 0")
        if sum(v.values()) > Decimal("1.0000001"):
            raise ValueError(f"weights add up to {sum(v.values())}, more than 1 (no margin in an overlay)")
        return v

    def build(self) -> Strategy:
        vehicles = {sym: Vehicle(sym, spec.underlying, spec.multiple) for sym, spec in self.vehicle_specs.items()}
        return OverlayStrategy(weights=self.weights, vehicle_specs=vehicles)


class ReplicaParams(StrategySection):
    strategy: ClassVar[type] = ReplicaStrategy

    symbol: Fund = _default(ReplicaStrategy, "symbol")
    weight: Decimal = Field(_default(ReplicaStrategy, "weight"), gt=0, le=1)
    underlying: Fund = _default(ReplicaStrategy, "underlying")
    multiple: Decimal = Field(_default(ReplicaStrategy, "multiple"), ge=-5, le=5)


class Strategies(Section):
    pair: PairParams = PairParams()
    overlay: OverlayParams = OverlayParams()
    replica: ReplicaParams = ReplicaParams()


SECTIONS: Mapping[str, type[StrategySection]] = {"pair": PairParams, "overlay": OverlayParams,
                                                 "replica": ReplicaParams}
assert set(SECTIONS) == set(STRATEGIES), "every registered strategy has its config section"


def strategy_from(name: str, params: Mapping[str, object] | None = None) -> Strategy:
    """A strategy from parameters as written (config values, `--param`/`--sweep` text or numbers), validated by
    the same section config.yaml's `strategies.<name>` is; one ValueError line naming what is wrong."""
    section = SECTIONS.get(name)
    if section is None:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(sorted(SECTIONS))}")
    given = dict(params or {})
    unknown = sorted(set(given) - set(section.model_fields))
    if unknown:
        known = ", ".join(section.model_fields)
        raise ValueError(f"strategy {name}: unknown parameter(s) {', '.join(unknown)}; known: {known}")
    try:
        return section.model_validate(given).build()
    except ValidationError as err:
        raise ValueError(f"strategy {name}: {_describe(err, where_empty='parameters')}") from None
    except ValueError as err:  # the strategy's own checks (an undeclared fund, legs that net out)
        raise ValueError(f"strategy {name}: {err}") from None


class Schedule(Section):
    frequency: Literal["monthly", "quarterly", "annual"] = "quarterly"
    drift_band: Decimal = Field(Decimal("0.05"), gt=0, le=1)
    gross_band: Decimal | None = Field(None, gt=0, le=4)
    net_band: Decimal | None = Field(None, gt=0, le=4)
    effective_band: Decimal | None = Field(None, gt=0, le=4)
    # New York wall-clock hours a run may trade in; null: whenever the market is open (no host-zone crontab then)
    window: TradingWindow | None = TradingWindow.parse("10:30-11:30")

    @field_validator("window", mode="before")
    @classmethod
    def _parse_window(cls, v: object) -> object:
        if v is None or isinstance(v, TradingWindow):
            return v
        if not isinstance(v, str):
            unquoted = " (quote it: YAML reads an unquoted 10:30 as a number)" if isinstance(v, int) else ""
            raise PydanticCustomError("window", f"expected {FORMAT}, or null{unquoted}")
        try:
            return TradingWindow.parse(v)
        except ValueError as err:  # one line without pydantic's "Value error, " prefix
            raise PydanticCustomError("window", str(err)) from None

    @field_serializer("window")
    def _window_text(self, v: TradingWindow | None) -> str | None:
        return None if v is None else str(v)


_RISK, _GATES, _POLICY = checks.Limits(), checks.Gates(), PlanPolicy()  # the one home of each default


class LimitsSection(Section):
    """config.yaml `limits:`: the risk limits (bot.core.checks.Limits) and the planner's policy (PlanPolicy)."""

    max_gross: Decimal = Field(_RISK.max_gross, gt=0, le=4)
    max_net: Decimal = Field(_RISK.max_net, ge=0, le=4)
    max_order_notional: Decimal | None = Field(_RISK.max_order_notional, gt=0)
    max_run_notional: Decimal | None = Field(_RISK.max_run_notional, gt=0)
    min_trade_usd: Decimal = Field(_POLICY.min_trade_usd, ge=0)
    cash_reserve: Decimal = Field(_POLICY.cash_reserve, ge=0, lt=1)
    fractional_longs: bool = _POLICY.fractional_longs

    def risk(self) -> checks.Limits:
        return checks.Limits(max_gross=self.max_gross, max_net=self.max_net,
                             max_order_notional=self.max_order_notional, max_run_notional=self.max_run_notional)

    def policy(self) -> PlanPolicy:
        return PlanPolicy(min_trade_usd=self.min_trade_usd, fractional_longs=self.fractional_longs,
                          cash_reserve=self.cash_reserve)


class GatesSection(Section):
    """config.yaml `gates:`: the configurable pre-trade gates (bot.core.checks.Gates)."""

    min_minutes_before_close: int = Field(_GATES.min_minutes_before_close, ge=0, le=390)
    max_quote_age_seconds: int = Field(_GATES.max_quote_age_seconds, gt=0)
    max_spread_bps: Decimal = Field(_GATES.max_spread_bps, gt=0)

    def rules(self) -> checks.Gates:
        return checks.Gates(min_minutes_before_close=self.min_minutes_before_close,
                            max_quote_age_seconds=self.max_quote_age_seconds, max_spread_bps=self.max_spread_bps)


class Execution(Section):
    connect_timeout_seconds: float = Field(3.0, gt=0, le=60)
    read_timeout_seconds: float = Field(10.0, gt=0, le=300)
    read_attempts: int = Field(4, ge=1, le=10)
    fill_timeout_seconds: float = Field(60.0, gt=0, le=3600)
    poll_interval_seconds: float = Field(0.5, gt=0, le=60)


class Broker(Section):
    base_url: str | None = None
    data_url: str | None = None
    feed: Literal["iex", "sip", "delayed_sip"] = "iex"


class Local(Section):
    state: Path = Path(".state/exchange.sqlite")
    starting_cash: Decimal = Field(Decimal("100000"), gt=0)
    clock: Literal["always-open", "nyse"] = "always-open"
    prices: str = "synthetic"  # "synthetic" or a directory of <SYMBOL>.csv files
    seed: int = Field(7, ge=0)  # numpy's generators take no negative seed
    half_spread_bps: Decimal = Field(Decimal("1"), ge=0, le=500)
    partial_fill_probability: float = Field(0.1, ge=0, le=1)


class Paths(Section):
    state_dir: Path = Path(".state")
    ledger: Path = Path(".state/ledger-{mode}.sqlite")
    logs: Path = Path("logs")
    kill_switch: Path = Path(".state/KILL")

    @field_validator("kill_switch", mode="before")
    @classmethod
    def _kill_switch_file(cls, v: object) -> object:
        if isinstance(v, str) and not v.strip():  # "" is the current directory, which always exists: killed forever
            raise PydanticCustomError("kill_switch",
                                      "empty: name the file whose presence stops runs (e.g. .state/KILL)")
        return v


class Backtest(Section):
    starting_cash: Decimal = Field(Decimal("100000"), gt=0)
    commission_bps: Decimal = Field(Decimal("0"), ge=0)
    slippage_bps: Decimal = Field(Decimal("1"), ge=0)
    borrow_bps: Decimal = Field(Decimal("50"), ge=0)
    cash_rate: Decimal = Field(Decimal("0.0"), ge=-0.1, le=0.5)
    fill: Literal["close", "next_open"] = "close"


class LiveCosts(Section):
    """Alpaca paper books no dividends and no borrow fees: in paper mode, show what live would have cost."""

    enabled: bool = True
    borrow_bps: Decimal = Field(Decimal("50"), ge=0, le=10000)  # a year's borrow fee on the short's value


class Notifications(Section):
    webhook_url: str | None = None

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            url = urlsplit(v)
            has_host = bool(url.hostname)
            url.port  # noqa: B018  (raises on a port that is not a number)
        except ValueError:
            raise PydanticCustomError(_UNSHOWN, "not a URL pairbot can post to") from None
        if url.scheme not in ("http", "https") or not has_host:
            raise PydanticCustomError(_UNSHOWN, "expected an http:// or https:// URL with a host")
        if url.username is not None or url.password is not None:
            raise PydanticCustomError(_UNSHOWN, "carries user:password credentials; use a URL without them "
                                                "(a webhook's secret is its path or token)")
        return v
    timeout_seconds: float = Field(5.0, gt=0, le=60)


class Config(Section):
    mode: Literal["local", "paper", "live"]  # required: a truncated file must never fall back to another account
    strategy: Literal["pair", "overlay", "replica"] = "pair"
    strategies: Strategies = Strategies()
    schedule: Schedule = Schedule()
    limits: LimitsSection = LimitsSection()
    gates: GatesSection = GatesSection()
    execution: Execution = Execution()
    broker: Broker = Broker()
    local: Local = Local()
    paths: Paths = Paths()
    backtest: Backtest = Backtest()
    notifications: Notifications = Notifications()
    live_costs: LiveCosts = LiveCosts()

    def strategy_section(self, name: str | None = None) -> StrategySection:
        section: StrategySection = getattr(self.strategies, name or self.strategy)
        return section

    def strategy_params(self) -> dict[str, Any]:
        """The chosen strategy's parameters as plain values (for a fingerprint, a message, a CLI override)."""
        return self.strategy_section().model_dump()

    def build_strategy(self) -> Strategy:
        """The configured strategy, from the section validated when the file was read (no second parse)."""
        return self.strategy_section().build()

    def vehicles(self, strategy: Strategy) -> dict[Symbol, Vehicle]:
        """What each symbol is, for measuring a book: every configured strategy's vehicles, `strategy`'s first
        (legs an earlier strategy left, SQQQ after a switch from the overlay, still count as QQQ x -3)."""
        known: dict[Symbol, Vehicle] = {}
        for name in SECTIONS:
            try:
                known |= self.strategy_section(name).build().vehicles
            except ValueError:  # a section the user never meant to run may not build; it names nothing then
                continue
        return known | dict(strategy.vehicles)

    def anchored(self, base: Path) -> Config:
        """The relative paths (state, ledger, logs, kill switch, the local exchange's state and prices) as relative
        to `base`, the config file's directory, not to wherever pairbot is run from: a run by hand from another
        directory then shares cron's ledger, state and lock."""
        if base == Path("."):
            return self

        def at(path: Path) -> Path:
            return path if path.is_absolute() else base / path

        names = ("state_dir", "ledger", "logs", "kill_switch")
        paths = self.paths.model_copy(update={name: at(getattr(self.paths, name)) for name in names})
        prices = self.local.prices
        if prices not in ("synthetic", "alpaca"):
            prices = str(at(Path(prices)))
        local = self.local.model_copy(update={"state": at(self.local.state), "prices": prices})
        return self.model_copy(update={"paths": paths, "local": local})

    def ledger_path(self) -> Path:
        return Path(str(self.paths.ledger).replace("{mode}", self.mode))


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the same safe subset, in C: a tenth of the time

_SECRET_KEY_NAMES = re.compile(r"(secret|api_?key|key_?id|password|token|passphrase)", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"^(PK|AK|CK)[A-Z0-9]{14,}$")


def _find_secrets(node: object, path: str = "") -> str | None:
    """The key path of the first value that looks like a credential, or None."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            here = f"{path}.{k}" if path else str(k)
            if _SECRET_KEY_NAMES.search(str(k)) and v not in (None, ""):
                return here
            found = _find_secrets(v, here)
            if found:
                return found
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found = _find_secrets(v, f"{path}[{i}]")
            if found:
                return found
    elif isinstance(node, str) and _SECRET_VALUE.match(node.strip()):
        return path or "<root>"
    return None


def _describe(err: ValidationError, *, where_empty: str = "<root>") -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or where_empty
    msg = first["msg"].removeprefix("Value error, ")  # a validator's own words, without pydantic's prefix
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    if first["type"] == "missing" and where == "mode":
        msg = "missing: say local, paper or live (pairbot never guesses which account to trade)"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    got = first.get("input")
    unshown = first["type"] in ("extra_forbidden", "missing", _UNSHOWN) or isinstance(got, Mapping)
    shown = "" if unshown else f", got {got!r}"
    return f"{where}: {msg}{shown}{more}"


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _duplicate_key(node: yaml.Node, path: str = "", seen: set[int] | None = None) -> str | None:
    """'<key path>: written twice (lines A and B)' for the first key a mapping repeats (YAML lets the last one
    win, silently), or None."""
    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias of a node already walked
        return None
    seen.add(id(node))
    children: list[tuple[str, yaml.Node]] = []
    if isinstance(node, yaml.MappingNode):
        lines: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else f"<{key.tag}>"
            here = f"{path}.{name}" if path else name
            if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG:
                line = key.start_mark.line + 1
                if (key.tag, key.value) in lines:
                    where = f"line {line}" if lines[key.tag, key.value] == line else \
                        f"lines {lines[key.tag, key.value]} and {line}"
                    return f"{here}: written twice ({where})"
                lines[key.tag, key.value] = line
            children.append((here, value))
    elif isinstance(node, yaml.SequenceNode):
        children = [(f"{path}[{i}]", item) for i, item in enumerate(node.value)]
    for here, child in children:
        found = _duplicate_key(child, here, seen)
        if found is not None:
            return found
    return None


def parse_config(raw: object, *, source: str = "config.yaml") -> Config:
    if raw is None:
        raise ConfigError(f"{source}: the file is empty; it needs at least `mode:` (see the shipped config.yaml); "
                          "nothing was sent")
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(raw).__name__}")
    secret_at = _find_secrets(raw)
    if secret_at:
        raise ConfigError(
            f"{source}: {secret_at}: looks like a credential; keys are read from the environment only "
            "(ALPACA_API_KEY, ALPACA_SECRET_KEY), never from config.yaml"
        )
    try:
        config = Config.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{source}: {_describe(err)}") from None
    window, before = config.schedule.window, config.gates.min_minutes_before_close
    latest = CLOSE.hour * 60 + CLOSE.minute - before
    if window is not None and window.start.hour * 60 + window.start.minute > latest:
        raise ConfigError(f"{source}: schedule.window: {window} starts after {latest // 60:02d}:{latest % 60:02d}, "
                          f"{before} minutes before the 16:00 close (gates.min_minutes_before_close): no run in it "
                          "could trade; start it earlier or lower the gate")
    return config


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start}); "
                          "save it as UTF-8") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    try:
        loader = _LOADER(text)  # a safe loader (libyaml's when built in)
        try:
            node = loader.get_single_node()
            twice = _duplicate_key(node) if node is not None else None
            if twice is not None:
                raise ConfigError(f"{path}: {twice}; keep one (pairbot does not guess which one you meant)")
            raw = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}: {where}YAML syntax error: {problem}") from None
    config = parse_config(raw, source=str(path)).anchored(path.parent)
    if config.paths.kill_switch.is_dir():
        raise ConfigError(f"{path}: paths.kill_switch: {config.paths.kill_switch} is a directory, so every run "
                          "would stop; name a file whose presence stops runs (e.g. .state/KILL)")
    return config
