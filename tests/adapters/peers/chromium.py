"""Headless chromium for the browser tests, started with the flags this machine needs.

A missing chromium fails the test that asks for it: CI installs it.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

# Without the background-networking flags, chromium keeps dialling hosts this
# closed network refuses; --remote-debugging-port keeps headless chromium up.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]


@contextlib.contextmanager
def headless(url: str, profile: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run chromium on ``url`` with a fresh profile in ``profile``; kill it on exit."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed: apt-get install -y chromium"
    browser = subprocess.Popen(
        [chromium, *FLAGS, f"--user-data-dir={profile}", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield browser
    finally:
        browser.kill()
        browser.wait()
