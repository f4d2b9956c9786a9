"""`pairbot cron`: crontab lines in the host's own zone, and a systemd service + timer, for `pairbot rebalance`."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from bot.adapters.hostzone import HostZone, host_zone
from bot.adapters.logs import configure_silent
from bot.config import Config, load_config
from bot.core.domain import NEW_YORK
from bot.core.window import (
    CLOSE,
    OPEN,
    CronEntry,
    Landing,
    TradingWindow,
    cron_entries,
    cron_mismatch,
)
from bot.errors import ConfigError

SPAN_DAYS = 2 * 366  # the offsets to New York are computed day by day over the next two years
DEFAULT_AT = time(10, 45)  # the timer's time when schedule.window is null
USE_SYSTEMD = "use the systemd timer instead (pairbot cron --systemd): systemd understands time zones"


def _hhmm(text: str) -> time:
    try:
        hh, mm = text.split(":")
        return time(int(hh), int(mm))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HH:MM (24-hour, New York time), got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--time", type=_hhmm, default=None, metavar="HH:MM",
                        help="when the run starts, New York time, inside schedule.window "
                             "(default: 15 minutes after the window opens, or half the window if that is shorter)")
    parser.add_argument("--host-tz", default=None, metavar="ZONE",
                        help="the zone this host's cron fires in, an IANA name such as Europe/Berlin "
                             "(default: the system zone, from the /etc/localtime link, else /etc/timezone; "
                             "TZ only when neither names one, since cron's daemon does not run with your shell's TZ; "
                             "else UTC)")
    parser.add_argument("--systemd", action="store_true",
                        help="print only the systemd service and timer (they need no host zone)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="the project directory the job runs in (default: the config file's directory)")


@dataclass(frozen=True, slots=True)
class Job:
    at: time  # New York
    project_dir: Path
    pairbot: str  # the command that starts pairbot, absolute
    config: Path
    keys: Path | None = None  # the keys file a paper or live run reads ALPACA_API_KEY / ALPACA_SECRET_KEY from

    @property
    def command(self) -> str:
        rebalance = f"{self.pairbot} rebalance --config {shlex.quote(str(self.config))}"
        keys = "" if self.keys is None else f"set -a && . {shlex.quote(str(self.keys))} && set +a && "
        return (f"cd {shlex.quote(str(self.project_dir))} && {keys}mkdir -p logs && "
                f"{rebalance} >> logs/cron.log 2>&1")


def pairbot_command() -> str:
    """The venv's `pairbot` script when there is one, else this interpreter running the module."""
    script = Path(sys.prefix) / "bin" / "pairbot"
    if script.exists():
        return shlex.quote(str(script))
    found = shutil.which("pairbot")
    if found:
        return shlex.quote(str(Path(found).resolve()))
    return f"{shlex.quote(sys.executable)} -m bot.cli"


def fire_time(window: TradingWindow | None, chosen: time | None, minutes_before_close: int) -> time:
    """When the run starts, New York: --time if given (inside the window), else the window's own time."""
    at = chosen if chosen is not None else window.fire_time() if window is not None else DEFAULT_AT
    said = f"--time {at:%H:%M}" if chosen is not None else f"the run time {at:%H:%M} (from schedule.window)"
    if window is not None and not window.start <= at < window.end:
        raise ConfigError(f"{said}: outside the trading window {window.describe()} (schedule.window); "
                          "choose a time inside it")
    latest_minutes = CLOSE.hour * 60 - minutes_before_close
    latest = time(latest_minutes // 60, latest_minutes % 60)
    if not OPEN < at <= latest:
        raise ConfigError(f"{said}: choose a time after the {OPEN:%H:%M} open and no later than {latest:%H:%M} "
                          f"New York ({minutes_before_close} minutes before the close, gates.min_minutes_before_close)")
    return at


def names_host_season(entries: Sequence[CronEntry]) -> bool:
    """Whether New York's EST/EDT alone does not say which of the host's own seasons a landing is in."""
    pairs = {(x.new_york_zone, x.host_zone) for e in entries for x in e.landings}
    return len(pairs) > len({ny for ny, _ in pairs})


def _landing(landing: Landing, with_host: bool) -> str:
    host = f" (host on {landing.host_zone})" if with_host else ""
    return f"{landing.new_york_zone}{host}"


def describe_entry(entry: CronEntry, host: HostZone, *, with_host: bool) -> str:
    """`# 14:45 UTC = 10:45 New York in EDT; 09:45 EST is outside the window (the run exits 0)`."""
    inside = [x for x in entry.landings if x.inside]
    outside = [x for x in entry.landings if not x.inside]
    days, ny_days = ("", "") if entry.day_names == "Mon-Fri" else (f" {entry.day_names}", " (Mon-Fri)")
    said = [f"{t:%H:%M} New York{ny_days} in " + " and ".join(_landing(x, with_host) for x in inside
                                                               if x.new_york == t)
            for t in sorted({x.new_york for x in inside})]
    line = f"# {entry.at:%H:%M}{days} {host.name}" + (" = " + ", ".join(said) if said else "")
    if outside:
        verb = "is" if len(outside) == 1 else "are"
        runs = "the run exits" if len(outside) == 1 else "those runs exit"
        shown = " and ".join(f"{x.new_york:%H:%M} {_landing(x, with_host)}" for x in outside)
        line += f"; {shown} {verb} outside the window ({runs} 0)"
    return line


def _header(window: TradingWindow, host: HostZone) -> list[str]:
    found = (f"from {host.source}" if host.source is not None
             else "could not tell it from /etc/localtime, /etc/timezone or TZ; pass --host-tz if it is not UTC")
    return [
        f"# pairbot on weekdays. Host zone: {host.name} ({found}).",
        *([f"# Note: {host.note}."] if host.note is not None else []),
        "# Cron fires in the host's zone (Debian's and Ubuntu's cron ignore a zone set in the crontab), so there is",
        "# one line for each offset between it and New York over the next two years; each run trades only inside its",
        f"# window {window.describe()} and exits 0 outside it; it decides by itself whether a rebalance is",
        "# due (on a market holiday it exits 0 too). Run `pairbot cron` again if the host moves to another zone.",
    ]


def crontab(job: Job, window: TradingWindow, host: HostZone, *, start: date, days: int = SPAN_DAYS) -> str:
    """The crontab for [start, start + days), or ConfigError when no host-zone crontab gives one run a day."""
    entries = cron_entries(window, host.zone, start=start, days=days, at=job.at)
    problem = cron_mismatch(entries, window, host.zone, start=start, days=days)
    if problem is not None:
        raise ConfigError(f"host zone {host.name}: {problem}; {USE_SYSTEMD}")
    with_host = names_host_season(entries)
    lines = _header(window, host)
    for entry in entries:
        lines += [describe_entry(entry, host, with_host=with_host), f"{entry.fields}  {job.command}"]
    return "\n".join(lines)


def systemd_units(job: Job) -> str:
    log = job.project_dir / "logs" / "cron.log"
    return "\n".join([
        "# ~/.config/systemd/user/pairbot.service  (or /etc/systemd/system/ with a User= line)",
        "[Unit]",
        "Description=pairbot rebalance (one run of the protocol)",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        f"WorkingDirectory={job.project_dir}",
        *([f"EnvironmentFile={job.keys}"] if job.keys is not None else []),
        f"ExecStart={job.pairbot} rebalance --config {job.config}",
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
        f"OnCalendar=Mon..Fri {job.at:%H:%M} America/New_York",
        "# no catch-up at boot: a missed calendar rebalance is caught up by the next weekday's run",
        "Persistent=false",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
        "# enable with: systemctl --user daemon-reload && systemctl --user enable --now pairbot.timer",
    ])


KEYS_FILE = "keys.env"


def keys_file(config: Config, config_path: Path) -> Path | None:
    """`<paths.state_dir>/keys.env` (relative to the config file's directory) for a paper or live run, else None:
    cron and systemd run with no ALPACA_ variables, so the scheduled run reads them from there."""
    if config.mode == "local":
        return None
    state = config.paths.state_dir
    return (state if state.is_absolute() else config_path.parent / state).resolve() / KEYS_FILE


def _job(args: argparse.Namespace, at: time, config: Config) -> Job:
    config_path = (args.config if args.config.is_absolute() else Path.cwd() / args.config).resolve()
    project = (args.dir or config_path.parent).resolve()
    return Job(at=at, project_dir=project, pairbot=pairbot_command(), config=config_path,
               keys=keys_file(config, config_path))


def _missing_keys(job: Job) -> None:
    if job.keys is not None and not job.keys.exists():
        print(f"pairbot: {job.keys} does not exist: the scheduled runs read their keys from it; write the two lines "
              "ALPACA_API_KEY=... and ALPACA_SECRET_KEY=... in it and chmod 600 it", file=sys.stderr)


def _print(sections: Sequence[tuple[str, str]]) -> None:
    print("\n\n".join(f"# --- {title} ---\n{body}" for title, body in sections))


def run(args: argparse.Namespace) -> int:
    configure_silent()
    config = load_config(args.config)
    window = config.schedule.window
    job = _job(args, fire_time(window, args.time, config.gates.min_minutes_before_close), config)
    units = ("systemd: a service and a timer (recommended: systemd understands time zones)", systemd_units(job))
    if args.systemd:
        _missing_keys(job)
        _print([units])
        return 0
    if window is None:
        raise ConfigError(f"{args.config}: schedule.window is null, and a crontab in the host's zone needs a window "
                          f"to tell its runs apart: set one (e.g. \"10:30-11:30\") or {USE_SYSTEMD}")
    today = datetime.now(UTC).astimezone(NEW_YORK).date()
    host = host_zone(args.host_tz)
    table = crontab(job, window, host, start=today)
    if host.note is not None:
        print(f"pairbot: {host.note}", file=sys.stderr)
    _missing_keys(job)
    _print([("crontab (crontab -e)", table), (f"or {units[0]}", units[1])])
    return 0
