"""The demo site as a person meets it: ``manage.py`` in subprocesses, a real server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.redis_server import free_port, in_ci

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """The browser's path; fails under CI without one, skips otherwise."""
    if CHROMIUM is None:
        message = "no chromium on PATH (scripts/test.sh installs it)"
        pytest.fail(message) if in_ci() else pytest.skip(message)
    return CHROMIUM


@contextmanager
def demo_site(
    directory: Path, redis_url: str = "", *, setup: str = "", **env: str
) -> Iterator[str]:
    """The example project on SQLite in ``directory``, migrated and seeded with a small
    catalogue, served by ``runserver``; yields its URL.  The memory store, or Redis at
    ``redis_url`` (under a key prefix of its own).  ``env`` adds environment variables;
    ``DJANGO_SUPERUSER_PASSWORD`` among them creates the superuser ``admin``.  ``setup``
    is Python run by ``manage.py shell -c`` before the server starts (users, grants)."""
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
        "DJANGO_DEBUG": "1",
        "CACHE_KEY_PREFIX": f"e2e-{directory.name}",
        **env,
    }
    environ.pop("REDIS_URL", None)
    if redis_url:
        environ["REDIS_URL"] = redis_url
    manage = [sys.executable, str(ROOT / "manage.py")]

    def run(*args: str) -> None:
        done = subprocess.run([*manage, *args], env=environ, cwd=ROOT, capture_output=True)
        assert done.returncode == 0, f"manage.py {args[0]}: {done.stderr.decode()[-2000:]}"

    run("migrate", "-v0")
    run("seed_demo", "--listeners", "20", "--events", "500")
    if "DJANGO_SUPERUSER_PASSWORD" in env:
        run("createsuperuser", "--noinput", "--username", "admin", "--email", "a@b.example")
    if setup:
        run("shell", "-c", setup)
    port = free_port()
    with open(directory / "server.log", "wb") as log:
        server = subprocess.Popen(
            [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=environ,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url + "/admin/login/")  # not a cached page: the tests see the first view
        yield url
    finally:
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


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo site on the memory store, for a module's tests."""
    require_chromium()
    with demo_site(tmp_path_factory.mktemp("site")) as url:
        yield url
