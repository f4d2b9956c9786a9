"""pairbot's commands. Parses arguments, wires the run together and maps errors to exit codes; nothing else."""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import io
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import structlog

from bot.adapters.logs import configure_silent, log_failure
from bot.errors import BotError

# name -> (module, help). Modules load lazily so `pairbot --help` stays fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "rebalance": ("bot.commands.rebalance", "the main job: reconcile, decide, trade to target, verify"),
    "plan": ("bot.commands.rebalance", "show what rebalance would do, send nothing (same as rebalance --dry-run)"),
    "status": ("bot.commands.status", "account, positions vs targets, drift, P&L, next rebalance, last run"),
    "trades": ("bot.commands.trades", "the trade log: runs, orders and fills, with slippage"),
    "report": ("bot.commands.report", "one HTML report with plots from the ledger or a backtest"),
    "doctor": ("bot.commands.doctor", "check config, keys, connectivity, clock, account flags and the ledger"),
    "cron": ("bot.commands.cron", "print a crontab line and a systemd timer for the rebalance"),
    "ledger": ("bot.commands.ledger", "ledger maintenance (rebuild from the broker)"),
    "backtest": ("bot.commands.backtest", "backtest a strategy over price history"),
    "signals": ("bot.commands.signals", "the research signals: trailing spread, rotation days, NDX/RUT ratio"),
    "research": ("bot.commands.research", "one HTML page: does the thesis work on these prices, with intervals"),
    "replay": ("bot.commands.replay", "replay history through the local exchange and compare with the backtest"),
    "exchange": ("bot.commands.exchange", "run the local Alpaca-compatible paper exchange"),
}

EXIT_CODES = """exit codes: 0 done or nothing to do; 1 internal error (a bug); 2 bad config, usage, keys, input or
path; 3 a gate or risk check refused; 4 broker unreachable (safe to rerun); 5 an order was rejected or left
incomplete; 6 ledger and broker disagree, or the ledger is unusable; 75 another run holds the lock;
130/143 stopped by SIGINT/SIGTERM at a safe point (rerun); 141 stdout was closed (a pipe)"""


def _available() -> dict[str, tuple[str, str]]:
    return {name: spec for name, spec in COMMANDS.items() if importlib.util.find_spec(spec[0]) is not None}


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """Only the chosen command's module is imported (for its arguments), so `pairbot --help` stays fast."""
    chosen = next((a for a in argv if a in COMMANDS), None)
    parser = argparse.ArgumentParser(prog="pairbot", description="Paper-trade a relative-value ETF book on Alpaca.",
                                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_Version, help="print pairbot's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in _available().items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", type=Path, default=Path("config.yaml"), help="config file (default: %(default)s)")
        p.set_defaults(_module=module, _name=name)
        if name == chosen:
            _module(module).add_arguments(p)  # type: ignore[attr-defined]
    return parser


class _Version(argparse.Action):
    """--version: the installed distribution's version, looked up only when asked (start-up stays fast)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("pairbot")
        except PackageNotFoundError:
            found = "unknown (not installed; run from a checkout)"
        print(f"pairbot {found}")
        parser.exit(0)


def _module(name: str) -> object:
    return importlib.import_module(name)


def main(argv: Sequence[str] | None = None, *, imported: Callable[[], None] | None = None) -> int:
    """`imported` is called once the command's modules are imported and its arguments parsed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _line_buffered_stdout()
    configure_silent()  # until a command opens its log: an event (an internal error's traceback) never reaches stdout
    try:
        args = build_parser(argv).parse_args(argv)
        if imported is not None:
            imported()
        code = _run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        return _closed_pipe()
    warning = log_failure()
    if warning is not None:
        _say(f"warning: {warning}")
    return code


def _run(args: argparse.Namespace) -> int:
    run: Callable[[argparse.Namespace], int] = _module(args._module).run  # type: ignore[attr-defined]
    try:
        return run(args)
    except BrokenPipeError:
        raise
    except BotError as err:
        _say(str(err))
        return err.exit_code
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except OSError as err:  # the environment, not a bug: a path that cannot be read or written
        if os.environ.get("PAIRBOT_DEBUG"):
            raise
        _say(f"{err.filename or 'I/O'}: {err.strerror or err}{_after_os_error(args)}")
        return 2
    except Exception as err:  # a bug: one line here, the traceback in the log
        if os.environ.get("PAIRBOT_DEBUG"):
            raise
        structlog.get_logger("pairbot").exception("internal_error")
        _say(f"internal error: {type(err).__name__}: {err} (set PAIRBOT_DEBUG=1 for a traceback)")
        return 1


def _after_os_error(args: argparse.Namespace) -> str:
    """What a path error means for the account: only a rebalance that may trade can have sent orders before it."""
    if args._name == "rebalance" and not getattr(args, "dry_run", False):
        return "; a rerun reconciles with the broker before it trades, so nothing is doubled"
    return ""


def _line_buffered_stdout() -> None:
    """Each line reaches a file as it is printed (cron's `>> logs/cron.log`), so a run killed by SIGKILL or the
    OOM killer leaves what it had said, not an empty file; a terminal is line-buffered already."""
    # A stream the shell closed (`>&-`, `<&-`) is None: it reads as empty and writes go nowhere, as the user chose
    if sys.stdin is None:
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115  # for the life of the process
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")  # a terminal in ASCII gets '?' for '…', not a UnicodeEncodeError
    if isinstance(sys.stdout, io.TextIOWrapper) and not sys.stdout.isatty():
        sys.stdout.reconfigure(line_buffering=True)


def _say(line: str) -> None:
    print(f"pairbot: {' '.join(line.split())}", file=sys.stderr)


def _closed_pipe() -> int:
    """Whoever read stdout stopped reading (`pairbot status | head -1`): exit quietly, as `cat` does."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader went away


def entry() -> int:
    """The `pairbot` console script. Importing alpaca-py, pandas and pydantic allocates about a million objects
    that live until the process ends, so the cyclic collector's passes over them are pure cost: about 0.05 s
    while importing (it is off then, and those objects are frozen out of its sight after) and 0.13 s at exit
    (frozen again: nothing of pairbot's is left for it by then; the ledger, the log and the lock are closed and
    stdout is flushed, and reference counting still frees everything as the modules are torn down). Together a
    fifth of a no-op rebalance. The run itself collects as usual."""
    gc.disable()
    code = main(imported=_imports_done)
    gc.freeze()
    return code


def _imports_done() -> None:
    gc.freeze()
    gc.enable()


if __name__ == "__main__":
    raise SystemExit(entry())
