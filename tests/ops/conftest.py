"""Fixtures for the operator commands: pairbot as a subprocess in a temp dir, a traded book, headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_NAMES = ("chromium", "chromium-browser")


@dataclass
class Pairbot:
    workdir: Path
    env: dict[str, str]

    @property
    def config(self) -> Path:
        return self.workdir / "config.yaml"

    def write_config(self, **sections: Any) -> Path:
        doc: dict[str, Any] = {
            "mode": "local",
            "paths": {"state_dir": ".state", "ledger": ".state/ledger-{mode}.sqlite", "logs": "logs",
                      "kill_switch": ".state/KILL"},
            "local": {"state": ".state/exchange.sqlite", "partial_fill_probability": 0.0},
            "execution": {"fill_timeout_seconds": 10, "poll_interval_seconds": 0.05, "read_attempts": 2},
        }
        for name, value in sections.items():
            doc[name] = {**doc[name], **value} if isinstance(doc.get(name), dict) else value
        self.config.write_text(yaml.safe_dump(doc))
        return self.config

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=self.workdir, text=True,
                              capture_output=True, env={**self.env, **(env or {})}, timeout=120)

    def log_text(self) -> str:
        path = self.workdir / "logs" / "pairbot.jsonl"
        return path.read_text() if path.exists() else ""


def make_pairbot(workdir: Path) -> Pairbot:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "PAIRBOT_"))}
    env["PYTHONPATH"] = str(ROOT)
    bot = Pairbot(workdir=workdir, env=env)
    bot.write_config()
    return bot


@pytest.fixture
def pairbot(tmp_path: Path) -> Pairbot:
    """A fresh project directory with a local-mode config and nothing traded yet."""
    return make_pairbot(tmp_path)


@pytest.fixture(scope="session")
def traded(tmp_path_factory: pytest.TempPathFactory) -> Pairbot:
    """A project directory after one rebalance on the embedded default and one quiet rerun (read-only use)."""
    bot = make_pairbot(tmp_path_factory.mktemp("traded"))
    first = bot.run("rebalance")
    assert first.returncode == 0, first.stdout + first.stderr
    second = bot.run("rebalance")
    assert second.returncode == 0, second.stdout + second.stderr
    return bot


def _install_chromium() -> str | None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "Chromium is not installed, and installing it needs root and apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env, timeout=600)
        done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0:
        return f"apt-get install chromium failed: {done.stderr.strip().splitlines()[-1:]}"
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of a headless-capable Chromium; installed with apt-get when missing (root only), else skip."""
    found = next((shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n)), None)
    if found is None:
        reason = _install_chromium()
        found = next((shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n)), None)
        if found is None:
            pytest.skip(reason or "Chromium could not be found after installing it")
    return found


@dataclass
class Browser:
    binary: str
    profile: Path

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [self.binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={self.profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def dump_dom(self, page: Path) -> str:
        done = self._run("--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri())
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def screenshot(self, page: Path, out: Path) -> Path:
        done = self._run("--window-size=1100,3000", f"--screenshot={out}", page.resolve().as_uri())
        assert done.returncode == 0, done.stderr[-2000:]
        return out


@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[Browser]:
    yield Browser(binary=chromium, profile=tmp_path / "chromium-profile")
