"""config.yaml is validated once; a bad file is one line naming the file, the key path and the problem."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import load_config
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def write_local(tmp_path: Path, text: str) -> Path:
    return write(tmp_path, "mode: local\n" + text)


def test_the_shipped_config_is_valid_and_runs_the_pair_locally() -> None:
    config = load_config(ROOT / "config.yaml")

    assert config.mode == "local"
    assert config.strategy == "pair"
    assert config.strategy_params()["gross"] == Decimal("1.0")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a list\n", "just a string\n", "strategy: pair\n"])
def test_an_empty_truncated_or_non_mapping_file_is_refused_never_run_on_defaults(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="empty|mapping|mode: missing"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("limits: {max_gross: -1}", "limits.max_gross: Input should be greater than 0, got -1"),
        ("limits: {max_grosss: 1}", "limits.max_grosss: unknown key"),
        ("schedule: {frequency: weekly}", "schedule.frequency: Input should be 'monthly', 'quarterly' or 'annual'"),
        ("strategies: {pair: {long_leg: QQQ, short_leg: QQQ}}", "must be different symbols"),
        ("strategies: {pair: {min_trend_score: 4}}", "strategies.pair.min_trend_score: Input should be less than"),
        ("limits:\n\tmax_gross: 1\n", "line 3, column 1: YAML syntax error"),
        ("notifications: {webhook_token: abc}", "notifications.webhook_token: looks like a credential"),
        ("strategies: {pair: {long_leg: %s}}" % ("PK" + "AAAABBBBCCCCDDDD11"),
         "strategies.pair.long_leg: looks like a credential"),
    ],
)
def test_a_bad_value_names_the_key_path(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write_local(tmp_path, text))

    assert message in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "config.yaml"))
    assert "\n" not in str(err.value)


def test_the_trend_gate_is_a_pair_parameter_in_config(tmp_path: Path) -> None:
    config = load_config(write_local(tmp_path, "strategies: {pair: {min_trend_score: 2}}"))

    assert config.strategy_params()["min_trend_score"] == 2


def test_the_ledger_path_is_per_mode(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "mode: paper")).ledger_path() == tmp_path / ".state/ledger-paper.sqlite"


def test_relative_paths_are_the_config_files_directorys_and_absolute_ones_stay(tmp_path: Path) -> None:
    text = "mode: local\npaths: {logs: /var/tmp/pairbot-logs}\nlocal: {prices: data/prices}\n"

    config = load_config(write(tmp_path, text))

    assert config.paths.state_dir == tmp_path / ".state" and config.paths.kill_switch == tmp_path / ".state/KILL"
    assert config.local.state == tmp_path / ".state/exchange.sqlite"
    assert config.local.prices == str(tmp_path / "data/prices")
    assert config.paths.logs == Path("/var/tmp/pairbot-logs")
