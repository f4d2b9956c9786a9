"""`pairbot cron`: a crontab line and a systemd service + timer."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.ops.conftest import Pairbot


def test_cron_prints_a_weekday_crontab_line_in_new_york_time_with_absolute_paths(pairbot: Pairbot) -> None:
    done = pairbot.run("cron")

    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("45 10 * * 1-5"))
    assert "CRON_TZ=America/New_York" in done.stdout
    assert f"cd {pairbot.workdir.resolve()} && " in line
    assert f"--config {pairbot.config.resolve()}" in line
    assert line.endswith(">> logs/cron.log 2>&1")
    assert str(Path(sys.prefix)) in line or sys.executable in line


def test_cron_prints_a_systemd_service_and_timer_at_the_chosen_time(pairbot: Pairbot) -> None:
    done = pairbot.run("cron", "--time", "11:05")

    assert done.returncode == 0, done.stderr
    assert "5 11 * * 1-5" in done.stdout
    assert "OnCalendar=Mon..Fri 11:05 America/New_York" in done.stdout
    assert "[Service]" in done.stdout and "Type=oneshot" in done.stdout and "[Timer]" in done.stdout
    assert f"WorkingDirectory={pairbot.workdir.resolve()}" in done.stdout


def test_cron_refuses_a_time_outside_trading_hours_with_exit_2(pairbot: Pairbot) -> None:
    early = pairbot.run("cron", "--time", "08:00")
    late = pairbot.run("cron", "--time", "15:50")

    assert early.returncode == 2 and "after the 09:30 open" in early.stderr
    assert late.returncode == 2 and "15:30" in late.stderr
