"""The zone this host's cron fires in: the system zone, which the shell's TZ does not change."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ConfigError

LOCALTIME = Path("/etc/localtime")
TIMEZONE_FILE = Path("/etc/timezone")
SAME_ZONE_DAYS = 2 * 366  # two zone names are one zone when their offsets agree this far ahead


@dataclass(frozen=True, slots=True)
class HostZone:
    zone: tzinfo
    name: str
    source: str | None  # where the name was found; None: it could not be told, and UTC is assumed
    note: str | None = None  # what the user should know about the choice, e.g. a TZ that was not used


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def zone_key(text: str) -> str:
    """An IANA name from a TZ value or a zoneinfo path: ":/usr/share/zoneinfo/posix/Europe/Berlin" → Europe/Berlin."""
    key = text.strip().lstrip(":")
    if "zoneinfo/" in key:
        key = key.rsplit("zoneinfo/", 1)[1]
    return key.removeprefix("posix/").removeprefix("right/")


def _named(name: str, source: str) -> HostZone:
    zone = _zone(zone_key(name))
    if zone is None:
        raise ConfigError(f"{source} {name!r}: not an IANA time zone name (e.g. Europe/Berlin or UTC); "
                          "pass --host-tz ZONE")
    return HostZone(zone, zone_key(name), source)


def _system_names(localtime: Path, timezone_file: Path) -> Iterator[tuple[str, str]]:
    """(zone name, where it was found) in the order the system is asked."""
    if localtime.is_symlink() and "zoneinfo/" in (target := str(localtime.readlink())):
        yield zone_key(target), str(localtime)
    if timezone_file.is_file():
        yield zone_key(timezone_file.read_text(encoding="utf-8", errors="replace")), str(timezone_file)


def _from_system(localtime: Path, timezone_file: Path) -> HostZone | None:
    found = ((_zone(name), name, source) for name, source in _system_names(localtime, timezone_file))
    return next((HostZone(zone, name, source) for zone, name, source in found if zone is not None), None)


def _same_zone(a: tzinfo, b: tzinfo) -> bool:
    """Whether two zones keep the same clock from now on (UTC and Etc/UTC do), sampled every six hours."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    moments = (now + timedelta(hours=6 * n) for n in range(SAME_ZONE_DAYS * 4))
    return all(t.astimezone(a).utcoffset() == t.astimezone(b).utcoffset() for t in moments)


def _tz_not_used(tz: str, system: HostZone) -> HostZone:
    named = _zone(zone_key(tz))
    if named is not None and (zone_key(tz) == system.name or _same_zone(named, system.zone)):
        return system
    shown = zone_key(tz) if named is not None else "ZONE"
    return replace(system, note=(
        f"TZ is {tz.strip()} but the system zone is {system.name} (from {system.source}), and cron fires in the "
        f"system zone, so these lines are for {system.name}; if your cron daemon itself runs with TZ={tz.strip()} "
        f"(e.g. in a container), pass --host-tz {shown}"))


def host_zone(flag: str | None, *, environ: Mapping[str, str] = os.environ,
              localtime: Path | None = None, timezone_file: Path | None = None) -> HostZone:
    """The zone cron fires in: --host-tz, else the system zone (the /etc/localtime link, else /etc/timezone),
    else TZ, else UTC. The TZ of the shell that asks is not the cron daemon's, so it never wins over the system."""
    if flag is not None:
        return _named(flag, "--host-tz")
    localtime = LOCALTIME if localtime is None else localtime  # read at call time, so a test can point them
    timezone_file = TIMEZONE_FILE if timezone_file is None else timezone_file
    tz = environ.get("TZ", "")
    system = _from_system(localtime, timezone_file)
    if system is not None:
        return _tz_not_used(tz, system) if tz.strip(" :") else system
    if tz.strip(" :"):
        found = _named(tz, "TZ")
        return replace(found, note=(
            f"no system zone in {localtime} or {timezone_file}, so these lines are for TZ={tz.strip()}; "
            f"cron fires in its daemon's zone: if that is not {found.name}, pass --host-tz ZONE"))
    return HostZone(UTC, "UTC", None)
