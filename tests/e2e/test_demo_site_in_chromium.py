"""The demo site as a person sees it: a real server process, a real headless Chromium."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from .conftest import CHROMIUM


def chromium(url: str, *args: str) -> str:
    """Load ``url`` in headless Chromium; return the DOM it rendered."""
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"chromium-{os.getpid()}"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    return done.stdout


def test_home_page_renders_the_chart_from_the_cache(site: str) -> None:
    first = chromium(site + "/", "--dump-dom")
    second = chromium(site + "/", "--dump-dom")
    assert "cache miss" in first
    assert "cache hit" in second  # the same server process answered from its memory store
    assert re.search(r"<(li|tr)\b", second)  # chart rows were rendered


def test_listener_page_screenshot(site: str, tmp_path: Path) -> None:
    home = chromium(site + "/", "--dump-dom")
    listener = re.search(r'href="(/listeners/\d+/)"', home)
    assert listener, "the home page links no listener"
    dom = chromium(site + listener.group(1), "--dump-dom")
    assert "cache" in dom and "Top tracks" in dom
    shot = tmp_path / "listener.png"
    chromium(site + listener.group(1), f"--screenshot={shot}", "--window-size=1200,900")
    assert shot.exists() and shot.stat().st_size > 10_000  # a page was drawn, not a blank
