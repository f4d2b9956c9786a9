"""Fixtures for the operator commands: pairbot as a subprocess in a temp dir, a traded book, headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli

CHROMIUM_NAMES = ("chromium", "chromium-browser")


class Pairbot(Cli):
    """The e2e harness (pairbot as a subprocess in a temp dir) plus what the ops tests read back."""

    @property
    def config(self) -> Path:
        return self.workdir / "config.yaml"

    def log_text(self) -> str:
        path = self.workdir / "logs" / "pairbot.jsonl"
        return path.read_text() if path.exists() else ""


def make_pairbot(workdir: Path) -> Pairbot:
    bot = Pairbot.in_dir(workdir)
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


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of a headless-capable Chromium; the test skips, saying so, when there is none (tests never
    install anything: .ci/run installs Debian's chromium for CI, as the README says)."""
    found = next((shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n)), None)
    if found is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); the page is not rendered")
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
