"""Argument types shared by the commands."""

from __future__ import annotations

import argparse
import os
import re
from datetime import date
from pathlib import Path


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def non_negative_int(text: str) -> int:
    """A count or a random seed (numpy's generators take no negative seed)."""
    return _whole(text, least=0, what="a whole number from 0")


def positive_int(text: str) -> int:
    return _whole(text, least=1, what="a whole number from 1")


def _whole(text: str, *, least: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def out_dir(text: str) -> Path:
    """A directory to write results in: it need not exist yet, but it must be one pairbot can make and write,
    checked before a long run rather than after it."""
    path = Path(text)
    there = next(p for p in (path, *path.parents) if p.exists() or p == p.parent)
    if not there.is_dir():
        raise argparse.ArgumentTypeError(f"{there} is a file, not a directory (so {text} cannot be made)")
    if not os.access(there, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write in {there} (permission denied)")
    return path


_DASK_ADDRESS = re.compile(r"(?:(?:tcp|tls|ws|wss)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})")


def dask_address(text: str) -> str:
    """A Dask scheduler's address, [tcp|tls|ws|wss://]host:port, checked before any work."""
    match = _DASK_ADDRESS.fullmatch(text)
    if match is None or not 1 <= int(match.group(1)) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a Dask scheduler address such as tcp://host:8786, got {text!r}")
    return text

