"""What only a process shows: a signal in the middle of a run, and a reader that goes away (a closed pipe)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from bot.adapters.exchange import Fault, LocalExchange
from tests.e2e.conftest import Cli, paper_env

CASES = {
    # the first order's reply is slow; the signal arrives meanwhile, so the second order is never sent
    "SIGTERM between two orders": (signal.SIGTERM, 143, Fault("delay", method="POST", path="/v2/orders",
                                                                on_calls=frozenset({1}), delay_seconds=1.5), 1),
    # both orders are out and one never fills; the signal arrives while the run polls it
    "SIGINT while polling": (signal.SIGINT, 130, Fault("stuck", method="POST", path="/v2/orders",
                                                        on_calls=frozenset({1}), polls=60), 2),
}


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_signal_mid_run_stops_at_a_safe_point_records_it_and_the_rerun_converges(
        cli: Cli, exchange: LocalExchange, case: tuple[int, int, Fault, int]) -> None:
    signum, code, fault, posts = case
    cli.write_config(mode="paper", execution={"fill_timeout_seconds": 60})
    exchange.faults.add(fault)
    proc = cli.popen("rebalance", env=paper_env(exchange))
    wait_for(lambda: exchange.requests.count("POST", "/v2/orders") == posts)

    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)

    assert proc.returncode == code, out + err
    name = signal.Signals(signum).name
    assert err.count("\n") == 1 and f"interrupted by {name}" in err and "Traceback" not in err + out
    assert exchange.requests.count("POST", "/v2/orders") == posts
    with sqlite3.connect(cli.workdir / ".state" / "ledger-paper.sqlite") as db:
        assert db.execute("SELECT outcome, exit_code FROM runs").fetchall() == [("interrupted", code)]
    exchange.faults.clear()
    rerun = cli.run("rebalance", env=paper_env(exchange))
    quiet = cli.run("rebalance", env=paper_env(exchange))
    assert rerun.returncode == 0 and quiet.returncode == 0 and "within band" in quiet.stdout, rerun.stderr


@pytest.mark.parametrize("reader", ["head -1", "true"])
def test_a_reader_that_goes_away_gets_a_quiet_exit(cli: Cli, reader: str) -> None:
    cli.write_config()
    pairbot = f"{sys.executable} -m bot.cli"

    done = subprocess.run(f"{pairbot} signals --prices synthetic | {reader}; {pairbot} status | {reader}",
                          shell=True, cwd=cli.workdir, env=cli.env, capture_output=True, text=True, timeout=120)

    assert done.stderr == "", done.stderr


@pytest.mark.parametrize(("killed", "said"), [("after_submit", "plan:"), ("after_summary", "outcome: done (exit 0)")])
def test_a_run_killed_mid_way_leaves_what_it_had_said_in_its_output_file(cli: Cli, killed: str, said: str) -> None:
    cli.write_config()
    log = cli.workdir / "cron.log"
    env = {k: v for k, v in cli.env.items() if k != "PYTHONUNBUFFERED"}  # as cron runs it

    with log.open("w") as out:  # cron's `>> logs/cron.log 2>&1`: stdout is a file, not a terminal
        done = subprocess.run([sys.executable, "-m", "bot.cli", "rebalance"], cwd=cli.workdir, stdout=out,
                              stderr=subprocess.STDOUT, env={**env, "PAIRBOT_TEST_CRASH_AT": killed},
                              timeout=120)

    assert done.returncode == -signal.SIGKILL
    text = log.read_text()
    assert said in text and "decision: calendar" in text, text  # the plan is printed before the first order


def test_closed_standard_streams_and_an_ascii_terminal_are_no_traceback(cli: Cli) -> None:
    cli.write_config()
    pairbot = f"{sys.executable} -m bot.cli"
    script = (f"{pairbot} rebalance >&-; echo closed-out $?; {pairbot} status >&- 2>&-; echo closed-both $?; "
              f"{pairbot} ledger rebuild <&- 2>&1 | tail -1; "
              f"PYTHONIOENCODING=ascii {pairbot} doctor > doctor.txt; echo ascii $?")

    # Not under tests/clock/at_times.sh's libfaketime: a process it preloads into, started with a standard stream
    # closed, breaks the clock it shares with every later process of the run (time.monotonic() overflows there)
    env = {k: v for k, v in cli.env.items() if k not in ("LD_PRELOAD", "FAKETIME")}

    done = subprocess.run(script, shell=True, cwd=cli.workdir, env=env, capture_output=True, text=True, timeout=180)

    out = done.stdout
    assert "closed-out 0" in out and "closed-both 0" in out and "ascii 0" in out, out + done.stderr
    assert "pass --yes to move the ledger aside" in out  # stdin closed: not a terminal, so no prompt
    assert "Traceback" not in out + done.stderr and "internal error" not in out + done.stderr
    assert "?" in (cli.workdir / "doctor.txt").read_text()  # the masked key's ellipsis, replaced
