"""The standalone entry point: loopback only unless told otherwise, and it serves alpaca-py."""

from __future__ import annotations

import socket
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from alpaca.trading.client import TradingClient

from bot.adapters.exchange.serve import _parser, serve_main, settings_from_args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_refuses_a_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve_main(["--host", "0.0.0.0"]) == 2
    assert "not a loopback address" in capsys.readouterr().err


def serving(argv: list[str], key: str, secret: str) -> tuple[TradingClient, threading.Event, threading.Thread]:
    """Start serve_main in a thread; return a client once the port answers."""
    port, stop = free_port(), threading.Event()
    runner = threading.Thread(target=serve_main, args=(["--port", str(port), *argv],), kwargs={"stop": stop})
    runner.start()
    client = TradingClient(key, secret, paper=True, url_override=f"http://127.0.0.1:{port}")
    for _ in range(100):
        try:
            client.get_clock()
            break
        except Exception:  # noqa: BLE001 - not listening yet
            time.sleep(0.05)
    return client, stop, runner


def test_serve_runs_a_shared_state_exchange_until_stopped(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALPACA_API_KEY", raising=False)
    monkeypatch.delenv("ALPACA_SECRET_KEY", raising=False)
    client, stop, runner = serving(["--state", str(tmp_path / "x.db"), "--cash", "5000", "--reset"],
                                   "PKLOCAL", "local-secret")
    try:
        assert client.get_account().cash == "5000"
    finally:
        stop.set()
        runner.join(timeout=5)
    assert "SYNTHETIC" in capsys.readouterr().err


def test_serve_says_which_key_it_accepts_and_how_to_point_paper_mode_at_it(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALPACA_API_KEY", raising=False)
    monkeypatch.delenv("ALPACA_SECRET_KEY", raising=False)
    client, stop, runner = serving([], "PKLOCAL", "local-secret")
    stop.set()
    runner.join(timeout=5)
    url = client._base_url

    err = capsys.readouterr().err

    assert "schema today" in err
    assert "accepts key id PKLOCAL; the secret is the default 'local-secret' (ALPACA_SECRET_KEY is not set)" in err
    assert (f"export ALPACA_API_KEY=PKLOCAL ALPACA_SECRET_KEY=local-secret ALPACA_BASE_URL={url} "
            f"ALPACA_DATA_URL={url}") in err
    assert "`mode: paper` in config.yaml" in err


def test_serve_takes_the_keys_from_the_environment_and_does_not_print_the_secret(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", "PKMINE0000000001")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "not-to-be-printed")
    client, stop, runner = serving(["--schema", "legacy"], "PKMINE0000000001", "not-to-be-printed")
    try:
        assert client.get_asset("QQQ").easy_to_borrow is True  # legacy: alpaca-py's strict model reads it
    finally:
        stop.set()
        runner.join(timeout=5)

    err = capsys.readouterr().err

    assert "schema legacy" in err
    assert "accepts key id PKMINE0000000001; the secret is the value of ALPACA_SECRET_KEY" in err
    assert 'ALPACA_SECRET_KEY="$ALPACA_SECRET_KEY"' in err and "not-to-be-printed" not in err


def test_serve_takes_the_corporate_action_rules_from_the_command_line() -> None:
    settings = settings_from_args(_parser().parse_args(["--split-remainder", "cash", "--no-dividends",
                                                        "--withholding", "0.15"]))

    assert (settings.split_remainder, settings.simulate_dividends, settings.dividend_withholding) == (
        "cash", False, Decimal("0.15"))
    with pytest.raises(SystemExit) as stop:
        serve_main(["--withholding", "1.5"])
    assert stop.value.code == 2


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--cash", "NaN", "argument --cash: expected a finite amount of dollars above 0, got 'NaN'"),
    ("--cash", "Infinity", "argument --cash: expected a finite amount of dollars above 0, got 'Infinity'"),
    ("--cash", "-5", "argument --cash: expected a finite amount of dollars above 0, got '-5'"),
    ("--cash", "0", "argument --cash: expected a finite amount of dollars above 0, got '0'"),
    ("--withholding", "NaN", "argument --withholding: expected a share from 0 up to (not including) 1"),
    ("--withholding", "-0.1", "argument --withholding: expected a share from 0 up to (not including) 1"),
])
def test_a_number_that_is_not_finite_or_in_range_is_a_usage_error(
        capsys: pytest.CaptureFixture[str], option: str, value: str, says: str) -> None:
    from bot.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["exchange", "serve", "--port", "0", option, value])

    err = capsys.readouterr().err
    assert stop.value.code == 2 and says in err
    assert "internal error" not in err and "starting_cash" not in err and "Traceback" not in err


@pytest.mark.parametrize("state", ["/proc/x.sqlite", "/proc/x/y.sqlite"])
def test_a_state_file_that_cannot_be_made_names_the_option_and_the_path(
        capsys: pytest.CaptureFixture[str], state: str) -> None:
    from bot.cli import main

    code = main(["exchange", "serve", "--port", "0", "--state", state])

    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"pairbot: --state {state}: cannot create /proc/x")
    assert "No such file or directory; choose a file in a directory you can write" in err and "[Errno" not in err


def test_a_state_file_that_is_not_a_database_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    (tmp_path / "bad.sqlite").write_text("not a database\n" * 100)

    code = main(["exchange", "serve", "--port", "0", "--state", str(tmp_path / "bad.sqlite")])

    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"pairbot: --state {tmp_path / 'bad.sqlite'}: not a usable SQLite state file")


def test_a_port_out_of_range_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["exchange", "serve", "--port", "99999"])

    assert stop.value.code == 2
    assert "argument --port: expected a TCP port from 0 to 65535, got '99999'" in capsys.readouterr().err


def test_a_busy_port_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        code = main(["exchange", "serve", "--port", str(port)])

    assert code == 2
    assert capsys.readouterr().err == (f"pairbot: cannot listen on 127.0.0.1:{port}: Address already in use "
                                       "(another server there? choose another --port)\n")


@pytest.mark.parametrize(("text", "says"), [
    ('["a", "b"]', 'fault #1 must be a mapping such as {"kind": "status", "path": "/v2/orders"}, got \'a\''),
    ('{"faults": 3}', "expected a list of faults, got int"),
    ('[{"kind": "nope"}]', "fault #1: unknown fault kind 'nope'"),
    ("[", "cannot read it: Expecting value"),
])
def test_a_bad_faults_file_is_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                                 says: str) -> None:
    from bot.cli import main

    script = tmp_path / "faults.json"
    script.write_text(text)

    code = main(["exchange", "serve", "--port", "0", "--faults", str(script)])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"pairbot: faults file {script}: {says}") and err.count("\n") == 1, err
