"""The demo site as a person sees it: a real server process, a real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.redis_server import free_port, in_ci

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    """The example project on SQLite and the memory store, seeded, served by runserver."""
    if CHROMIUM is None:
        message = "no chromium on PATH (scripts/test.sh installs it)"
        pytest.fail(message) if in_ci() else pytest.skip(message)
    db = tmp_path_factory.mktemp("site") / "db.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DATABASE_URL": f"sqlite:///{db}",
        "DJANGO_DEBUG": "1",
    }
    env.pop("REDIS_URL", None)  # embedded defaults: the in-process memory store
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run(
        [*manage, "seed_demo", "--listeners", "20", "--events", "500"],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    _wait_for(url + "/admin/login/")  # not a cached page: the tests see the first view
    yield url
    server.terminate()
    server.wait(10)


def _wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the demo site did not come up at {url}")


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
