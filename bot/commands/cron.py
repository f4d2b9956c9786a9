"""`pairbot cron`: a crontab line and a systemd service + timer that run `pairbot rebalance` on weekdays."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from dataclasses import dataclass
from datetime import time
from pathlib import Path

from bot.config import load_config
from bot.errors import ConfigError
from bot.logging import configure_silent

OPEN = time(9, 30)
CLOSE = time(16, 0)


def _hhmm(text: str) -> time:
    try:
        hh, mm = text.split(":")
        return time(int(hh), int(mm))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HH:MM (24-hour, New York time), got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--time", type=_hhmm, default=time(10, 45), metavar="HH:MM",
                        help="when to run, America/New_York, on weekdays (default: 10:45)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="the project directory the job runs in (default: the current directory)")


@dataclass(frozen=True, slots=True)
class Schedule:
    at: time
    project_dir: Path
    pairbot: str  # the command that starts pairbot, absolute
    config: Path


def pairbot_command() -> str:
    """The venv's `pairbot` script when there is one, else this interpreter running the module."""
    script = Path(sys.prefix) / "bin" / "pairbot"
    if script.exists():
        return shlex.quote(str(script))
    found = shutil.which("pairbot")
    if found:
        return shlex.quote(str(Path(found).resolve()))
    return f"{shlex.quote(sys.executable)} -m bot.cli"


def check_time(at: time, minutes_before_close: int) -> None:
    latest_minutes = CLOSE.hour * 60 - minutes_before_close
    latest = time(latest_minutes // 60, latest_minutes % 60)
    if not (OPEN < at <= latest):
        raise ConfigError(f"--time {at:%H:%M}: choose a time after the 09:30 open and no later than {latest:%H:%M} "
                          f"New York ({minutes_before_close} minutes before the close, gates.min_minutes_before_close)")


def crontab(s: Schedule) -> str:
    rebalance = f"{s.pairbot} rebalance --config {shlex.quote(str(s.config))}"
    return "\n".join([
        "# pairbot: every weekday; it decides by itself whether a rebalance is due (holidays exit 3, harmlessly)",
        "CRON_TZ=America/New_York",
        f"{s.at.minute} {s.at.hour} * * 1-5  cd {shlex.quote(str(s.project_dir))} && mkdir -p logs && {rebalance} "
        ">> logs/cron.log 2>&1",
    ])


def systemd_units(s: Schedule) -> str:
    log = s.project_dir / "logs" / "cron.log"
    return "\n".join([
        "# ~/.config/systemd/user/pairbot.service  (or /etc/systemd/system/ with a User= line)",
        "[Unit]",
        "Description=pairbot rebalance (one run of the protocol)",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        f"WorkingDirectory={s.project_dir}",
        f"ExecStart={s.pairbot} rebalance --config {s.config}",
        "# 75: another run held the lock and nothing was sent",
        "SuccessExitStatus=75",
        f"StandardOutput=append:{log}",
        f"StandardError=append:{log}",
        "",
        "# ~/.config/systemd/user/pairbot.timer",
        "[Unit]",
        "Description=pairbot rebalance on weekdays after the open",
        "",
        "[Timer]",
        f"OnCalendar=Mon..Fri {s.at:%H:%M} America/New_York",
        "# no catch-up at boot: a missed calendar rebalance is caught up by the next weekday's run",
        "Persistent=false",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
        "# enable with: systemctl --user daemon-reload && systemctl --user enable --now pairbot.timer",
    ])


def run(args: argparse.Namespace) -> int:
    configure_silent()
    config = load_config(args.config)
    check_time(args.time, config.gates.min_minutes_before_close)
    project = (args.dir or Path.cwd()).resolve()
    config_path = args.config if args.config.is_absolute() else Path.cwd() / args.config
    schedule = Schedule(at=args.time, project_dir=project, pairbot=pairbot_command(), config=config_path.resolve())
    print("# --- crontab (crontab -e) ---")
    print(crontab(schedule))
    print()
    print("# --- or systemd: a service and a timer ---")
    print(systemd_units(schedule))
    return 0
