"""The near-cache in front of Redis: hits stay local, sealed and coherent across processes."""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time

import pytest

from spotify_cache.stores.near import NearCacheStore
from spotify_cache.stores.tracking import CONNECTION_NAME
from tests.helpers import make_cache


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.0005)
    return predicate()


@pytest.fixture
def prefix() -> str:
    return "near" + os.urandom(3).hex()


@pytest.fixture
def near(redis_url: str, prefix: str):
    cache = make_cache(redis_url, KEY_PREFIX=prefix, NEAR_CACHE={"MAX_ENTRIES": 50, "TTL": 30})
    assert isinstance(cache.store.primary, NearCacheStore)  # behind fail-open's FailoverStore
    assert cache.store.tracker.wait_ready(5)
    yield cache
    cache.clear()


def warm(cache, key: str) -> None:
    """Read until the tier holds ``key`` and keeps it: right after a write, a fill
    can be dropped by that write's own invalidation, which arrives within about
    a millisecond, so a fill still there 50 ms later is settled."""
    skey = cache.make_key(key)

    def settled() -> bool:
        cache.get(key)
        if cache.store.local.get(skey) is None:
            return False
        time.sleep(0.05)
        return cache.store.local.get(skey) is not None

    assert wait_until(settled)


def gets(client) -> int:
    stats = client.info("commandstats").get("cmdstat_get")
    return int(stats["calls"]) if stats else 0


def test_hits_are_served_locally_and_stay_sealed(near, redis_client) -> None:
    near.set("k", {"tracks": [1, 2]})
    warm(near, "k")
    before = gets(redis_client)
    for _ in range(20):
        assert near.get("k") == {"tracks": [1, 2]}
    assert gets(redis_client) == before
    skey = near.make_key("k")
    assert near.store.local.get(skey) == redis_client.get(skey)  # the sealed blob, not a value


def test_writes_from_any_client_invalidate(near, redis_url, prefix, redis_client) -> None:
    other = make_cache(redis_url, KEY_PREFIX=prefix)  # no near-cache: a plain writer
    near.set("k", "v1")
    assert near.get("k") == "v1"
    other.set("k", "v2")
    assert wait_until(lambda: near.get("k") == "v2")
    redis_client.set(near.make_key("k"), b"forged")  # a foreign write: tracked too
    assert wait_until(lambda: near.get("k") is None)


def test_local_entry_never_outlives_the_redis_ttl(near) -> None:
    near.set("short", "v", timeout=2)
    warm(near, "short")
    assert near.store.local.ttl(near.make_key("short")) <= 2


def test_eviction_is_bounded_by_max_entries(near) -> None:
    near.set_many({f"k{i}": i for i in range(200)})
    assert near.get_many([f"k{i}" for i in range(200)]) == {f"k{i}": i for i in range(200)}
    assert len(near.store.local) <= 50


def test_lost_tracking_bypasses_then_empties_the_tier(near, redis_client) -> None:
    near.set("k", "v1")
    warm(near, "k")
    epoch = near.store.tracker.epoch
    for client in redis_client.client_list():
        if client.get("name") == CONNECTION_NAME:
            redis_client.client_kill_filter(_id=client["id"])
    assert wait_until(lambda: near.store.tracker.epoch > epoch)
    redis_client.set(near.make_key("k"), b"changed while tracking was down")
    assert wait_until(lambda: near.store.tracker.healthy)
    assert near.get("k") is None  # the old local copy was dropped on reconnect


def test_async_reads_use_the_tier(near, redis_client) -> None:
    import asyncio

    near.set("k", "v")
    warm(near, "k")

    async def scenario() -> None:
        before = gets(redis_client)
        assert await near.aget("k") == "v"
        assert gets(redis_client) == before
        assert await near.aget_many(["k", "absent"]) == {"k": "v"}

    asyncio.run(scenario())


# -- two real processes ------------------------------------------------------------------
def _writer(url: str, prefix: str, commands, acks) -> None:
    import django
    from django.conf import settings

    settings.configure(SECRET_KEY="test-secret-key-not-for-production")
    django.setup()
    writer = make_cache(url, KEY_PREFIX=prefix, NEAR_CACHE={"MAX_ENTRIES": 10})
    writer.store.tracker.wait_ready(5)
    while (value := commands.get()) is not None:
        writer.set("shared", value)
        acks.put(time.monotonic())  # the writer's call has returned


def test_two_processes_propagation_delay(near, redis_url, prefix) -> None:
    ctx = multiprocessing.get_context("spawn")
    commands, acks = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_writer, args=(redis_url, prefix, commands, acks))
    proc.start()
    delays, stale_after_visible = [], 0
    try:
        for value in range(1, 101):
            commands.put(value)
            returned = acks.get(timeout=30)
            assert wait_until(lambda v=value: near.get("shared") == v, timeout=5), value
            delays.append(time.monotonic() - returned)
            stale_after_visible += sum(near.get("shared") != value for _ in range(20))
    finally:
        commands.put(None)
        proc.join(10)
    assert stale_after_visible == 0
    assert len(near.store.local) >= 1  # reads really were served by the tier
    delays.sort()
    print(
        f"\npropagation delay ms: p50={statistics.median(delays) * 1e3:.3f} "
        f"p99={delays[98] * 1e3:.3f} max={delays[-1] * 1e3:.3f}"
    )
