"""Chaos: eight threads through ``SpotifyCache`` with default options while its
Redis hangs (SIGSTOP for 2 s), resumes, dies (SIGKILL for 2 s) and comes back
on the same port.

Asserted: no exception reaches a caller; while Redis is hung or down the 99th
percentile of call latency stays within twice the socket timeout and no call
takes more than a second; writes reach the restarted Redis within a second of
its return.  About 8 s.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import threading
import time
from dataclasses import dataclass, field

import pytest

from spotify_cache.backend import SpotifyCache
from spotify_cache.stores import redis_pool, tracking
from tests import redis_server
from tests.redis_server import RedisServer

THREADS = 8
KEYS = 200
SOCKET_TIMEOUT = redis_pool.DEFAULTS["SOCKET_TIMEOUT"]


@dataclass
class Calls:
    """Every call's (start, end), and whatever a caller saw raised."""

    spans: list[tuple[float, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, start: float, end: float, error: BaseException | None) -> None:
        with self.lock:
            self.spans.append((start, end))
            if error is not None:
                self.errors.append(f"{type(error).__name__}: {error}")

    def during(self, windows: list[tuple[float, float]]) -> list[float]:
        """Durations of the calls that overlap any of ``windows``."""
        return [
            end - start
            for start, end in self.spans
            if any(start < w_end and end > w_start for w_start, w_end in windows)
        ]


def one_call(cache: SpotifyCache, rng: random.Random) -> None:
    key = f"k{rng.randrange(KEYS)}"
    dice = rng.random()
    if dice < 0.5:
        cache.get(key)
    elif dice < 0.7:
        cache.set(key, {"plays": rng.randrange(1000)}, tags=[f"t{rng.randrange(10)}"])
    elif dice < 0.9:
        cache.get_or_set(key, lambda: {"loaded": True}, tags=[f"t{rng.randrange(10)}"])
    elif dice < 0.99:
        cache.invalidate(key)
    else:
        cache.invalidate_tags(f"t{rng.randrange(10)}")


def worker(cache: SpotifyCache, seed: int, stop: threading.Event, calls: Calls) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        start, error = time.monotonic(), None
        try:
            one_call(cache, rng)
        except Exception as exc:
            error = exc
        calls.record(start, time.monotonic(), error)
        time.sleep(0.0005)  # a request does other work too; keeps the GIL shared


def first_write_seen(cache: SpotifyCache, server: RedisServer, limit: float) -> float:
    """Seconds until a ``set`` made now or later is in Redis (``inf`` past ``limit``)."""
    raw, start, n = server.client(), time.monotonic(), 0
    while time.monotonic() - start < limit:
        n += 1
        cache.set("arrival", n)
        if raw.exists(cache.make_key("arrival")):
            return time.monotonic() - start
        time.sleep(0.01)
    return float("inf")


def p99(durations: list[float]) -> float:
    return statistics.quantiles(durations, n=100)[98]


def test_callers_never_see_a_hung_or_dead_redis() -> None:
    if not redis_server.available():
        if redis_server.in_ci():
            pytest.fail("redis-server is needed")
        pytest.skip("redis-server is needed")
    server = RedisServer().start()
    cache = SpotifyCache(server.url, {"KEY_PREFIX": f"chaos{os.getpid()}"})  # default OPTIONS
    calls, stop = Calls(), threading.Event()
    threads = [
        threading.Thread(target=worker, args=(cache, seed, stop, calls)) for seed in range(THREADS)
    ]
    windows: list[tuple[float, float]] = []
    back: RedisServer | None = None
    arrival = float("inf")
    try:
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        assert server.process is not None
        hung_at = time.monotonic()
        os.kill(server.process.pid, signal.SIGSTOP)
        time.sleep(2)
        os.kill(server.process.pid, signal.SIGCONT)
        windows.append((hung_at, time.monotonic()))
        time.sleep(1)
        killed_at = time.monotonic()
        server.kill()
        time.sleep(2)
        back = RedisServer(port=server.port).start()
        windows.append((killed_at, time.monotonic()))
        arrival = first_write_seen(cache, back, limit=3)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        if server.process is not None and server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()
        if back is not None:
            back.stop()
        stop_trackers_of(server.url)
    outage = calls.during(windows)
    report(calls, outage, arrival)
    assert calls.errors == []
    assert len(outage) > 1000  # the callers kept going
    assert p99(outage) <= 2 * SOCKET_TIMEOUT
    assert max(end - start for start, end in calls.spans) <= 1.0
    assert arrival <= 1.0


def report(calls: Calls, outage: list[float], arrival: float) -> None:
    """Printed with ``pytest -s``: what the numbers were, not only that they passed."""
    every = [end - start for start, end in calls.spans]
    slow = sorted(d for d in outage if d > 0.05)
    print(
        f"\ncalls {len(every)}, during outages {len(outage)};"
        f" outage p99 {p99(outage) * 1000:.1f} ms, max {max(outage) * 1000:.0f} ms,"
        f" calls over 50 ms: {len(slow)}"
        f" (longest {[round(d * 1000) for d in slow[-5:]]} ms); overall max"
        f" {max(every) * 1000:.0f} ms; first write in the restarted Redis after"
        f" {arrival * 1000:.0f} ms; errors {len(calls.errors)}"
    )


def stop_trackers_of(url: str) -> None:
    """Stop the tracking threads of this test's server (the session's stay)."""
    with tracking._trackers_lock:
        mine = [ident for ident in tracking._trackers if ident[1] == url]
        stopped = [tracking._trackers.pop(ident) for ident in mine]
    for tracker in stopped:
        tracker.stop()
