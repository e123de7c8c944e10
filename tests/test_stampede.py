"""Stampede protection: single-flight (per process, optionally across processes),
early refresh (XFetch) and serve-stale-while-revalidate, on both stores."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.helpers import make_cache

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["memory", "redis"])
def location(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://stampede" + os.urandom(3).hex()
    return request.getfixturevalue("redis_url")


def _cache(location: str, **options):
    return make_cache(location, KEY_PREFIX="st" + os.urandom(3).hex(), **options)


def test_fifty_threads_on_a_cold_key_run_the_loader_once(location: str) -> None:
    cache = _cache(location)
    calls, start = [], threading.Barrier(50)

    def load() -> str:
        calls.append(1)
        time.sleep(0.2)
        return "computed"

    results: list[str] = []

    def ask() -> None:
        start.wait()
        results.append(cache.get_or_set("cold", load, 60))

    threads = [threading.Thread(target=ask) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert results == ["computed"] * 50
    cache.clear()


def test_a_failing_loader_fails_its_caller_and_the_waiters_load_themselves(
    location: str,
) -> None:
    cache = _cache(location)
    calls: list[int] = []
    first = threading.Event()

    def load() -> str:
        calls.append(1)
        if len(calls) == 1:
            first.set()
            time.sleep(0.1)
            raise RuntimeError("upstream down")
        return "second try"

    outcome: list[object] = []
    leader = threading.Thread(target=lambda: _capture(outcome, cache, load))
    leader.start()
    first.wait(5)
    assert cache.get_or_set("k", load, 60) == "second try"
    leader.join()
    assert isinstance(outcome[0], RuntimeError)


def _capture(outcome: list[object], cache, load) -> None:
    try:
        outcome.append(cache.get_or_set("k", load, 60))
    except RuntimeError as exc:
        outcome.append(exc)


def test_async_single_flight(location: str) -> None:
    cache = _cache(location)
    calls: list[int] = []

    async def load() -> str:
        calls.append(1)
        await asyncio.sleep(0.1)
        return "computed"

    async def scenario() -> list[str]:
        return await asyncio.gather(*(cache.aget_or_set("cold", load, 60) for _ in range(50)))

    assert asyncio.run(scenario()) == ["computed"] * 50
    assert len(calls) == 1


def test_xfetch_refreshes_early_when_told_to(location: str) -> None:
    eager = _cache(location, STAMPEDE={"BETA": 1e9})  # expiry always "near"
    never = _cache(location, STAMPEDE={"BETA": 0})
    for cache, expected in ((eager, 2), (never, 1)):
        calls: list[int] = []

        def load(calls=calls) -> int:
            calls.append(1)
            time.sleep(0.01)  # a measurable delta
            return len(calls)

        cache.get_or_set("k", load, 300)
        cache.get_or_set("k", load, 300)
        assert len(calls) == expected


def test_serve_stale_while_revalidate(location: str) -> None:
    cache = _cache(location, STAMPEDE={"STALE": 30, "BETA": 0})
    versions = iter(["v1", "v2"])
    assert cache.get_or_set("k", lambda: next(versions), 0.3) == "v1"
    time.sleep(0.4)
    assert cache.get("k") is None  # a plain read never sees it past its TTL
    assert cache.get_or_set("k", lambda: next(versions), 0.3) == "v1"  # stale, at once
    deadline = time.monotonic() + 3
    while cache.get("k") != "v2":  # refreshed behind the caller's back
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_options_are_checked() -> None:
    with pytest.raises(ImproperlyConfigured, match="STAMPEDE"):
        make_cache(STAMPEDE={"BETTA": 1})
    with pytest.raises(ImproperlyConfigured, match="STALE"):
        make_cache(STAMPEDE={"STALE": -1})


def test_one_loader_across_processes_with_the_lock(redis_url: str, tmp_path) -> None:
    prefix = "stl" + os.urandom(3).hex()
    marks = tmp_path / "loads"
    script = (
        "import django, threading, time; from django.conf import settings; "
        "settings.configure(SECRET_KEY='test-secret-key-not-for-production'); django.setup(); "
        "from tests.helpers import make_cache; "
        f"c = make_cache({redis_url!r}, KEY_PREFIX={prefix!r}, STAMPEDE={{'LOCK': True}}); "
        f"load = lambda: (open({str(marks)!r}, 'a').write('x'), time.sleep(0.5), 'v')[2]; "
        "ts = [threading.Thread(target=c.get_or_set, args=('cold', load, 60)) for _ in range(10)]; "
        "[t.start() for t in ts]; [t.join() for t in ts]"
    )
    children = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT) for _ in range(3)]
    assert [child.wait(60) for child in children] == [0, 0, 0]
    assert marks.read_text() == "x"  # 30 callers in 3 processes, one load
    make_cache(redis_url, KEY_PREFIX=prefix).clear()
