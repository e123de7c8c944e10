"""Tags and partition records: O(1) invalidation, lost records, no extra round trips."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from spotify_cache.backend import SpotifyCache
from spotify_cache.stores.redis_versions import RedisVersions
from spotify_cache.stores.versions import MIN_TTL, MemoryVersions
from tests.helpers import make_cache
from tests.partitions.conftest import PARTITIONS, Factory


def test_tagged_writes_drop_together(make: Factory) -> None:
    cache = make()
    cache.set("a", 1, tags=["artist:1", "genre:rock"])
    cache.set_many({"b": 2, "c": 3}, tags=["artist:1"])
    assert cache.add("d", 4, tags=["artist:2"])
    assert cache.get_or_set("e", lambda: 5, tags=["genre:rock"]) == 5
    cache.set("f", 6)
    cache.invalidate_tags("artist:1")
    assert cache.get_many(["a", "b", "c", "d", "e", "f"]) == {"d": 4, "e": 5, "f": 6}
    cache.invalidate_tags("genre:rock", "artist:2")
    assert cache.get_many(["d", "e", "f"]) == {"f": 6}
    assert not cache.has_key("a") and cache.has_key("f")
    assert cache.add("a", "again")  # an invalidated value leaves the key free
    assert not cache.add("a", "taken")
    assert cache.get("a") == "again"


def test_tags_must_be_a_list_of_strings(make: Factory) -> None:
    cache = make()
    with pytest.raises(TypeError, match="not the string"):
        cache.set("a", 1, tags="artist:1")
    with pytest.raises(TypeError, match="non-empty string"):
        cache.set("a", 1, tags=["", "x"])


def test_incr_keeps_the_stamp(make: Factory) -> None:
    cache = make(PARTITIONS=PARTITIONS)
    cache.set("spotify:user:1:plays", 10, tags=["listener:1"])
    assert cache.incr("spotify:user:1:plays", 5) == 15
    cache.invalidate_tags("listener:1")
    assert cache.get("spotify:user:1:plays") is None
    with pytest.raises(ValueError, match="not found"):
        cache.incr("spotify:user:1:plays")


def _drop_records_by_hand(cache: SpotifyCache, redis_client: redis.Redis | None) -> None:
    """What an ``allkeys-*`` eviction, a failover or a FLUSHDB does to the records."""
    versions = cache._router.versions
    versions = getattr(versions, "inner", versions)  # behind fail-open on Redis
    if isinstance(versions, MemoryVersions):
        # In process, records go only through drop() or expiry (next test); both
        # move the generation or a deadline.  Wipe them as a crash would.
        versions._records.clear()
        versions.changed()
        return
    assert isinstance(versions, RedisVersions) and redis_client is not None
    keys = list(redis_client.scan_iter(match=versions.prefix.encode() + b"*"))
    assert keys, "the records should be in Redis"
    redis_client.delete(*keys)


def _eventually(check, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.005)
    return check()


def test_a_lost_record_reads_as_a_miss_never_as_fresh(
    make: Factory, store_kind: str, request: pytest.FixtureRequest
) -> None:
    client = request.getfixturevalue("redis_client") if store_kind == "redis" else None
    cache = make(PARTITIONS=PARTITIONS)
    cache.set("spotify:user:1", "tagged", tags=["listener:1"])
    cache.set("spotify:track:1", "partitioned")
    assert cache.get("spotify:user:1") == "tagged"  # records now held in process too
    _drop_records_by_hand(cache, client)
    assert _eventually(lambda: cache.get("spotify:user:1") is None)
    assert cache.get("spotify:track:1") is None
    cache.set("spotify:user:1", "rewritten", tags=["listener:1"])  # new records, new tokens
    assert cache.get("spotify:user:1") == "rewritten"


def test_a_value_that_outlives_its_record_reads_as_a_miss() -> None:
    """touch() can make a value live longer than the records it was stamped with."""
    now = [1000.0]
    cache = make_cache(TIMER=lambda: now[0], PARTITIONS=PARTITIONS)
    cache.set("spotify:user:1", "v", 10, tags=["listener:1"])
    assert cache.touch("spotify:user:1", None)  # the value now never expires
    assert cache.get("spotify:user:1") == "v"
    now[0] += MIN_TTL + 1  # ... but its records (made for a 10 s value) did
    assert cache.get("spotify:user:1") is None


def test_a_recreated_record_never_revives_old_values(make: Factory) -> None:
    """Tokens are random: deleting and recreating a record is not a counter restarting."""
    cache = make()
    cache.set("old", "v1", tags=["t"])
    for _ in range(5):
        cache.invalidate_tags("t")
        cache.set("other", "x", tags=["t"])  # recreates the record
        assert cache.get("old") is None


def _commands(client: redis.Redis) -> int:
    """Commands the server ran, but for the trackers' keep-alive PINGs (every tracking
    connection of every earlier test pings this server) and our own INFO."""
    stats = client.info("commandstats")
    ignored = ("cmdstat_ping", "cmdstat_info")
    return sum(int(v["calls"]) for k, v in stats.items() if k not in ignored)


def test_a_warm_get_through_a_partition_and_two_tags_is_one_command(
    redis_url: str, redis_client: redis.Redis
) -> None:
    cache = make_cache(redis_url, KEY_PREFIX="cmdcount", PARTITIONS=PARTITIONS)
    cache.set("spotify:user:1", {"top": [1, 2]}, tags=["listener:1", "genre:rock"])
    assert cache._router.versions.tracker.wait_ready(5)
    assert cache.get("spotify:user:1") == {"top": [1, 2]}  # warms the records
    before = _commands(redis_client)
    for _ in range(200):
        assert cache.get("spotify:user:1") == {"top": [1, 2]}
    assert _commands(redis_client) - before == 200  # one GET each
    cache.clear()


@pytest.mark.parametrize("kind", ["tag", "partition"])
def test_invalidating_100k_members_is_a_constant_number_of_commands(
    redis_url: str, redis_client: redis.Redis, kind: str
) -> None:
    cache = make_cache(  # bulk writes: no 0.25 s deadline on a busy machine
        redis_url,
        KEY_PREFIX=f"big{kind}",
        PARTITIONS=PARTITIONS,
        SOCKET_TIMEOUT=10,
        FAIL_OPEN=False,
    )
    for start in range(0, 100_000, 5000):
        chunk = {f"spotify:user:{i}": i for i in range(start, start + 5000)}
        cache.set_many(chunk, tags=["big"])
    assert cache.get("spotify:user:99999") == 99999
    before = _commands(redis_client)
    if kind == "tag":
        cache.invalidate_tags("big")
    else:
        cache.invalidate_partition("listeners")
    assert _commands(redis_client) - before == 1  # one UNLINK
    assert cache.get_many([f"spotify:user:{i}" for i in range(0, 100_000, 997)]) == {}
    cache.clear()


def test_get_many_across_partitions(make: Factory) -> None:
    cache = make(PARTITIONS=PARTITIONS)
    data = {"spotify:user:1": 1, "spotify:track:1": 2, "spotify:user:vip:1": 3, "z": 4}
    cache.set_many(data, tags=["all"])
    assert cache.get_many([*data, "missing"]) == data
    cache.delete_many(["spotify:user:1", "z"])
    assert cache.get_many(list(data)) == {"spotify:track:1": 2, "spotify:user:vip:1": 3}
    cache.invalidate_tags("all")
    assert cache.get_many(list(data)) == {}


def test_async_tags_and_partitions(make: Factory) -> None:
    asyncio.run(_async_tags_and_partitions(make(PARTITIONS=PARTITIONS)))


async def _async_tags_and_partitions(cache: SpotifyCache) -> None:
    await cache.aset("spotify:user:1", "a", tags=["x"])
    await cache.aset_many({"spotify:user:2": "b"}, tags=["y"])
    assert await cache.aadd("spotify:track:1", "c", tags=["x"])
    assert await cache.aget_many(["spotify:user:1", "spotify:user:2"]) == {
        "spotify:user:1": "a",
        "spotify:user:2": "b",
    }
    await cache.ainvalidate_tags("x")
    assert await cache.aget("spotify:user:1") is None
    assert await cache.aget("spotify:track:1") is None
    await cache.ainvalidate_partition("listeners")
    assert await cache.aget("spotify:user:2") is None
    assert await cache.aget_or_set("spotify:user:3", lambda: "d", tags=["x"]) == "d"
    assert await cache.ainvalidate("spotify:user:3") == 1
    assert not await cache.ahas_key("spotify:user:3")
    assert await cache.aadd("spotify:user:3", "e")  # the marker leaves the key free
    assert not await cache.aadd("spotify:user:3", "f")
    assert await cache.aget("spotify:user:3") == "e"
