"""Async views under a WSGI server do not leak Redis connections.

Under WSGI, Django runs each async view on an event loop of its own
(asgiref's ``async_to_sync`` -> ``asyncio.run``).  The store kept one pool per
loop and never closed it, so every request left its connections open: 100
requests, 100 Redis clients; a view gathering 20 reads, thousands.  Here a
real ``runserver`` serves 500 requests and Redis counts its clients.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 500
BOUND = 30


def start_site(redis_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.reliability.site_settings",
        "SPOTIFY_CACHE_SITE_REDIS": redis_url,
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def wait_until_serving(site: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if site.poll() is not None:
            raise AssertionError(site.stderr.read().decode() if site.stderr else "site died")
        try:
            fetch(url)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("runserver did not answer")


def test_async_views_under_wsgi_leave_no_connections_behind(private_redis) -> None:
    port = free_port()
    site = start_site(private_redis.url, port)
    base = f"http://127.0.0.1:{port}"
    watcher = private_redis.client()
    try:
        wait_until_serving(site, f"{base}/several/")
        paths = ["/gathered/" if i % 5 == 0 else "/several/" for i in range(REQUESTS)]
        peak = 0
        with ThreadPoolExecutor(4) as pool:
            for done, body in enumerate(pool.map(lambda p: fetch(base + p), paths)):
                assert body in ("10", "190")
                if done % 50 == 0:
                    peak = max(peak, int(watcher.info("clients")["connected_clients"]))
        time.sleep(0.2)  # the last loops shut down after their responses are sent
        clients = int(watcher.info("clients")["connected_clients"])
    finally:
        site.terminate()
        site.wait(10)
    received = int(watcher.info("stats")["total_connections_received"])
    print(
        f"{REQUESTS} requests: {received} connections made, {peak} at most at once, {clients} left"
    )
    assert received > REQUESTS  # each request's loop did connect
    assert clients < BOUND, f"{clients} Redis clients left after {REQUESTS} requests"
    assert peak < BOUND + 20 * 4, f"{peak} Redis clients at once"  # 4 requests in flight
