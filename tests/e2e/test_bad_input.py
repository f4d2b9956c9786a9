"""Bad config, keys or mode: one line on stderr, the documented exit code, and no request sent."""

from __future__ import annotations

import pytest

from bot.adapters.exchange import LocalExchange
from tests.e2e.conftest import Cli, paper_env

FAKE_KEY = "PK" + "ABCDEFGHIJKLMNOPQR"  # built, not written, so no tracked file holds a key-shaped string

BAD_CONFIGS = {
    "yaml syntax error": "mode: paper\nstrategy: [pair\n",
    "tab indent": "mode: paper\nlimits:\n\tmax_gross: 1\n",
    "unknown key": "mode: paper\nlimitz: {}\n",
    "unknown nested key": "mode: paper\nlimits: {max_grosss: 1}\n",
    "wrong type": "mode: paper\nlimits: {max_gross: lots}\n",
    "out of range": "mode: paper\nlimits: {max_gross: -1}\n",
    "same symbol on both legs": "mode: paper\nstrategies: {pair: {long_leg: QQQ, short_leg: QQQ}}\n",
    "unknown strategy": "mode: paper\nstrategy: momentum\n",
    "secret inside": f"mode: paper\nbroker: {{api_key: {FAKE_KEY}}}\n",
    "key-like value": f"mode: paper\nbroker: {{base_url: {FAKE_KEY}}}\n",
    "not a mapping": "- just\n- a list\n",
    "negative seed": "mode: paper\nlocal: {seed: -1}\n",
    "a key written twice": "mode: local\nmode: paper\n",
    "a nested key written twice": "mode: paper\nlimits:\n  max_gross: 1\n  max_gross: 2\n",
}


@pytest.mark.parametrize("text", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_a_bad_config_is_one_line_exit_2_and_no_request(cli: Cli, exchange: LocalExchange, text: str) -> None:
    (cli.workdir / "config.yaml").write_text(text)

    result = cli.run("rebalance", env=paper_env(exchange))

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("pairbot: ") and "Traceback" not in result.stderr
    assert "config.yaml" in result.stderr
    assert len(exchange.requests) == 0


def test_a_config_that_is_not_utf8_is_one_line_naming_the_file_and_nothing_on_stdout(cli: Cli) -> None:
    (cli.workdir / "c.yaml").write_bytes(b"\xff\xfe mode: local\n")

    result = cli.run("rebalance", "--config", "c.yaml")

    assert result.returncode == 2
    assert result.stderr == "pairbot: c.yaml: not UTF-8 text (byte 0xff at offset 0); save it as UTF-8\n"
    assert result.stdout == ""


def test_a_key_written_twice_is_refused_with_its_path_and_both_lines(cli: Cli) -> None:
    (cli.workdir / "config.yaml").write_text("mode: local\nlimits:\n  max_gross: 1\n  max_net: 0\n  max_gross: 2\n")

    result = cli.run("plan")

    assert result.returncode == 2
    assert result.stderr.startswith("pairbot: config.yaml: limits.max_gross: written twice (lines 3 and 5); keep one")
    assert result.stdout == ""


def test_a_missing_config_file_is_exit_2(cli: Cli) -> None:
    result = cli.run("rebalance", "--config", "nope.yaml")

    assert result.returncode == 2
    assert "nope.yaml: no such config file" in result.stderr


def test_paper_mode_without_keys_is_exit_2_and_no_request(cli: Cli, exchange: LocalExchange) -> None:
    cli.write_config(mode="paper")
    env = paper_env(exchange)
    del env["ALPACA_SECRET_KEY"]

    result = cli.run("rebalance", env=env)

    assert result.returncode == 2
    assert "ALPACA_SECRET_KEY" in result.stderr
    assert len(exchange.requests) == 0


def test_wrong_keys_are_exit_2_with_one_line(cli: Cli, exchange: LocalExchange) -> None:
    cli.write_config(mode="paper")

    result = cli.run("rebalance", env={**paper_env(exchange), "ALPACA_SECRET_KEY": "wrong-secret"})

    assert result.returncode == 2
    assert "refused the API keys" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "wrong-secret" not in result.stderr + result.stdout


@pytest.mark.parametrize(("key", "secret"), [("PK TEST", "secret"), ("PKTEST", "sec\nret"), ("PKTEST\n", "secret")],
                         ids=["space in the key", "newline in the secret", "newline after the key"])
def test_a_key_or_secret_with_whitespace_is_refused_before_any_request(cli: Cli, exchange: LocalExchange,
                                                                        key: str, secret: str) -> None:
    cli.write_config(mode="paper")
    name = "ALPACA_API_KEY" if key != "PKTEST" else "ALPACA_SECRET_KEY"

    result = cli.run("rebalance", env={**paper_env(exchange), "ALPACA_API_KEY": key, "ALPACA_SECRET_KEY": secret})

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"pairbot: {name} contains whitespace, a control character or a non-ASCII")
    for part in (*secret.split(), key.strip()):
        assert part not in result.stderr + result.stdout  # never the secret, nor the key unmasked
    assert len(exchange.requests) == 0


def test_paper_mode_refuses_a_host_that_is_not_alpaca_or_loopback(cli: Cli, exchange: LocalExchange) -> None:
    cli.write_config(mode="paper")

    result = cli.run("rebalance", env={**paper_env(exchange), "ALPACA_BASE_URL": "https://example.com"})

    assert result.returncode == 2
    assert "only paper-api.alpaca.markets or a loopback address" in result.stderr
    assert len(exchange.requests) == 0


def test_live_mode_is_refused_unless_armed(cli: Cli, exchange: LocalExchange) -> None:
    cli.write_config(mode="live")

    result = cli.run("rebalance", env=paper_env(exchange))

    assert result.returncode == 2
    assert "not armed" in result.stderr
    assert len(exchange.requests) == 0


def test_live_mode_checks_the_account_number_it_was_armed_with(cli: Cli, exchange: LocalExchange) -> None:
    cli.write_config(mode="live")

    result = cli.run("rebalance", env={**paper_env(exchange), "PAIRBOT_LIVE_ACCOUNT": "LIVE-NOT-THIS-ONE"})

    assert result.returncode == 2
    assert "live account mismatch" in result.stderr
    assert all(path != "/v2/orders" for _method, path, _query in exchange.requests)


def test_paper_mode_against_a_loopback_exchange_trades(cli: Cli, exchange: LocalExchange) -> None:
    cli.write_config(mode="paper")

    result = cli.run("rebalance", env=paper_env(exchange))

    assert result.returncode == 0, result.stderr
    assert sum(1 for m, p, _q in exchange.requests if (m, p) == ("POST", "/v2/orders")) == 2


INCOHERENT_CONFIGS = {
    "a window no run in can trade": ("schedule: {window: '15:40-16:00'}\n",
                                     "schedule.window: 15:40-16:00 starts after 15:30, 30 minutes before the 16:00 "
                                     "close (gates.min_minutes_before_close): no run in it could trade"),
    "an empty kill switch": ("paths: {kill_switch: ''}\n", "paths.kill_switch: empty: name the file"),
    "a kill switch that is a directory": ("paths: {kill_switch: .state}\n",
                                          "paths.kill_switch: .state is a directory, so every run would stop"),
    "a webhook that is not http": ("notifications: {webhook_url: 'ftp://hooks.example/x'}\n",
                                   "notifications.webhook_url: expected an http:// or https:// URL with a host"),
    "a webhook without a scheme": ("notifications: {webhook_url: hooks.example/x}\n",
                                   "notifications.webhook_url: expected an http:// or https:// URL with a host"),
    "a webhook with credentials": ("notifications: {webhook_url: 'https://me:hunter2@hooks.example/x'}\n",
                                   "notifications.webhook_url: carries user:password credentials"),
}


@pytest.mark.parametrize(("text", "said"), INCOHERENT_CONFIGS.values(), ids=INCOHERENT_CONFIGS.keys())
def test_a_config_whose_runs_could_never_work_is_one_line_exit_2(cli: Cli, text: str, said: str) -> None:
    (cli.workdir / ".state").mkdir()
    (cli.workdir / "config.yaml").write_text("mode: local\n" + text)

    result = cli.run("plan")

    assert (result.returncode, result.stdout) == (2, ""), result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"pairbot: config.yaml: {said}"), result.stderr
    assert "hunter2" not in result.stderr


def test_a_window_that_starts_at_the_close_gate_and_a_plain_webhook_are_accepted(cli: Cli) -> None:
    (cli.workdir / "config.yaml").write_text("mode: local\nschedule: {window: '15:30-16:00'}\n"
                                             "notifications: {webhook_url: 'https://hooks.example:8443/T0/abc'}\n")

    result = cli.run("cron", "--systemd", "--time", "15:30")

    assert result.returncode == 0, result.stderr
