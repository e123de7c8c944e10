"""More threads or tasks than MAX_CONNECTIONS wait briefly for a connection instead of failing.

Before, the pool raised "Too many connections" the moment MAX_CONNECTIONS were
busy: with MAX_CONNECTIONS=8 and 16 healthy threads, tens of thousands of calls
failed.  The wait is bounded by the call's deadline.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from spotify_cache.exceptions import StoreUnavailable
from tests.helpers import make_cache
from tests.reliability.support import raising

THREADS = 16
MAX_CONNECTIONS = 4


def test_sixteen_threads_on_four_connections_make_no_errors(redis_url) -> None:
    cache = make_cache(
        redis_url, **raising(KEY_PREFIX=f"w{os.urandom(3).hex()}", MAX_CONNECTIONS=4)
    )
    errors: list[BaseException] = []
    done = [0] * THREADS
    stop = time.monotonic() + 1.0

    def work(index: int) -> None:
        while time.monotonic() < stop:
            try:
                cache.set(f"k{index}", index)
                assert cache.get(f"k{index}") == index
                cache.get_many([f"k{index}", "absent"])
                cache.add(f"a{index}", 1)  # Lua, through the redis-py client
                done[index] += 1
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert min(done) > 0 and sum(done) > 200
    assert len(cache.get_client().connection_pool._connections) <= MAX_CONNECTIONS
    cache.clear()


def test_tasks_beyond_max_connections_wait_for_one(redis_url) -> None:
    cache = make_cache(
        redis_url, **raising(KEY_PREFIX=f"wa{os.urandom(3).hex()}", MAX_CONNECTIONS=4)
    )

    async def one(index: int) -> int:
        await cache.aset(f"k{index}", index)
        return await cache.aget(f"k{index}")

    async def everyone() -> list[int]:
        return await asyncio.gather(*(one(i) for i in range(64)))

    assert asyncio.run(everyone()) == list(range(64))
    cache.clear()


def test_the_wait_ends_at_the_deadline(redis_url) -> None:
    options = raising(KEY_PREFIX="wd", MAX_CONNECTIONS=2, SOCKET_TIMEOUT=0.1, RETRIES=1)
    cache = make_cache(redis_url, **options)
    pool = cache.get_client().connection_pool
    held = [pool.get_connection() for _ in range(2)]  # every connection busy
    try:
        start = time.monotonic()
        with pytest.raises(StoreUnavailable):
            cache.get("k")
        assert time.monotonic() - start <= 0.2 + 0.06
    finally:
        for conn in held:
            pool.release(conn)
    assert cache.get("k") is None  # free again
