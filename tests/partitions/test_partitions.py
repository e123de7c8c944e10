"""Partitions: configuration checked at start-up, routing, per-partition policy."""

from __future__ import annotations

import time

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from spotify_cache.codecs.framing import HEADER_SIZE
from spotify_cache.stores.memory import MemoryStore
from spotify_cache.stores.near import NearCacheStore
from tests.helpers import make_cache
from tests.partitions.conftest import PARTITIONS, Factory

BAD = [
    ({"p": {"PREFX": "a"}}, "['p']: unknown field 'PREFX'"),
    ({"p": {}}, "['p']['PREFIX'] is required"),
    ({"p": {"PREFIX": 3}}, "['p']['PREFIX'] must be a string"),
    ({"bad name": {"PREFIX": "a"}}, "a partition name is"),
    ({"default": {"PREFIX": "a"}}, "['default']['PREFIX']"),
    ({"p": {"PREFIX": "a"}, "q": {"PREFIX": "a"}}, "also the prefix of partition 'p'"),
    ({"p": {"PREFIX": "a", "TIMEOUT": 10, "MAX_TIMEOUT": 5}}, "longer than MAX_TIMEOUT"),
    ({"p": {"PREFIX": "a", "MAX_TIMEOUT": 0}}, "['p']['MAX_TIMEOUT'] must be None or a number"),
    ({"p": {"PREFIX": "a", "TIMEOUT": "60"}}, "['p']['TIMEOUT'] must be None or a number"),
    ({"p": {"PREFIX": "a", "SERIALIZER": "yaml"}}, "['p']: OPTIONS[\"SERIALIZER\"] 'yaml'"),
    ({"p": {"PREFIX": "a", "NEAR_CACHE": {}}}, "['p']['NEAR_CACHE'] needs a Redis LOCATION"),
    ({"p": {"PREFIX": "a", "MAX_BYTES": -1}}, "MAX_BYTES"),
    ({"p": {"PREFIX": "a", "STRATEGY": "nope"}}, "STRATEGY"),
    ({"p": "a:"}, "['p'] must be a dict"),
    (["p"], 'OPTIONS["PARTITIONS"] must be a dict'),
]


@pytest.mark.parametrize(("partitions", "message"), BAD)
def test_every_mistake_fails_at_start_up_naming_partition_and_field(
    partitions: object, message: str
) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        make_cache(PARTITIONS=partitions)
    assert message in str(caught.value)


def test_memory_only_fields_are_refused_on_redis(redis_url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"\['p'\]\['MAX_BYTES'\] applies to the memory"):
        make_cache(redis_url, PARTITIONS={"p": {"PREFIX": "a", "MAX_BYTES": 1000}})


def test_longest_prefix_wins_and_the_rest_is_default(make: Factory) -> None:
    cache = make(PARTITIONS=PARTITIONS)
    assert set(cache.partitions) == {"listeners", "vip", "catalog", "default"}
    assert cache.partition_of("spotify:user:1") == "listeners"
    assert cache.partition_of("spotify:user:vip:1") == "vip"
    assert cache.partition_of("spotify:track:9") == "catalog"
    assert cache.partition_of("spotify:users") == "default"
    assert cache.partition_of(42) == "default"
    assert cache.partitions["listeners"].prefix == "spotify:user:"


def test_partition_timeouts_default_and_clamp(make: Factory) -> None:
    cache = make(PARTITIONS=PARTITIONS)
    cache.set("spotify:user:1", "a")  # the partition's TIMEOUT
    assert 3590 < cache.ttl("spotify:user:1") <= 3600
    cache.set("spotify:user:2", "b", None)  # for ever is clamped to MAX_TIMEOUT
    assert 86390 < cache.ttl("spotify:user:2") <= 86400
    cache.set("spotify:user:3", "c", 10**7)  # longer: clamped, not refused
    assert 86390 < cache.ttl("spotify:user:3") <= 86400
    cache.set("spotify:track:1", "d")  # TIMEOUT None: for ever
    assert cache.ttl("spotify:track:1") is None
    cache.set("elsewhere", "e")  # the cache's TIMEOUT (300)
    assert 290 < cache.ttl("elsewhere") <= 300


def test_partition_serializer_is_used_for_its_keys_only(make: Factory) -> None:
    cache = make(PARTITIONS=PARTITIONS)
    cache.set("spotify:track:1", {"title": "Yesterday"})
    cache.set("spotify:user:1", {"title": "Yesterday"})
    raw = cache._router.route("spotify:track:1").store.get(cache.make_key("spotify:track:1"))
    other = cache._router.route("spotify:user:1").store.get(cache.make_key("spotify:user:1"))
    assert raw is not None and other is not None
    assert raw[1] & 0x07 == 2 and other[1] & 0x07 == 1  # json (2) vs pickle (1)
    assert cache.get("spotify:track:1") == {"title": "Yesterday"}
    with pytest.raises(TypeError):
        cache.set("spotify:track:2", {1, 2})  # json cannot hold a set
    assert len(raw) > HEADER_SIZE


def test_invalidate_partition_drops_its_values_only(make: Factory) -> None:
    cache = make(PARTITIONS=PARTITIONS)
    cache.set_many({"spotify:user:1": 1, "spotify:user:2": 2, "spotify:track:1": 3, "x": 4})
    cache.set("spotify:user:vip:1", 5)
    cache.invalidate_partition("listeners")
    assert cache.get_many(["spotify:user:1", "spotify:user:2"]) == {}
    assert cache.get("spotify:track:1") == 3 and cache.get("x") == 4
    assert cache.get("spotify:user:vip:1") == 5  # its own partition
    cache.set("spotify:user:1", "new")  # writes after the invalidation are fresh
    assert cache.get("spotify:user:1") == "new"
    cache.invalidate_partition("default")
    assert cache.get("x") is None and cache.get("spotify:user:1") == "new"


def test_partition_invalidation_needs_partitions_and_a_known_name(make: Factory) -> None:
    with pytest.raises(ValueError, match="PARTITIONS"):
        make().invalidate_partition("default")
    with pytest.raises(KeyError, match="no partition 'nope'"):
        make(PARTITIONS={}).invalidate_partition("nope")


def test_values_written_before_partitions_were_configured_read_as_misses(
    make: Factory,
) -> None:
    """Otherwise a partition invalidation would miss them: they carry no partition stamp."""
    before = make()
    before.set("spotify:user:1", "old")
    after = make(KEY_PREFIX=before.key_prefix, PARTITIONS=PARTITIONS)
    if isinstance(before.store, MemoryStore):
        after._router.default = after._router.default._replace(store=before.store)
        after._router.ordered = [r._replace(store=before.store) for r in after._router.ordered]
    assert after.get("spotify:user:1") is None
    assert not after.rejections  # a miss, not an attack


def test_memory_partition_quota_evicts_inside_the_partition_only() -> None:
    cache = make_cache(
        MAX_ENTRIES=1000,
        PARTITIONS={"blobs": {"PREFIX": "blob:", "MAX_BYTES": 20_000, "STRATEGY": "lfu"}},
    )
    cache.set_many({f"small:{i}": i for i in range(50)})
    for i in range(40):
        cache.set(f"blob:{i}", b"x" * 2000)
    blobs = cache._router.route("blob:1").store
    assert isinstance(blobs, MemoryStore) and blobs is not cache.store
    assert blobs.bytes_used <= 20_000
    assert len(cache.get_many([f"blob:{i}" for i in range(40)])) < 40
    assert len(cache.get_many([f"small:{i}" for i in range(50)])) == 50
    cache.clear()
    assert cache.get("small:1") is None and len(blobs) == 0


def test_redis_partition_with_its_own_near_cache(redis_url: str) -> None:
    cache = make_cache(
        redis_url,
        KEY_PREFIX="nearpart",
        PARTITIONS={"hot": {"PREFIX": "hot:", "NEAR_CACHE": {"MAX_ENTRIES": 10}}},
    )
    hot = cache._router.route("hot:1").store
    unwrap = lambda store: getattr(store, "primary", store)  # noqa: E731 - behind fail-open
    assert isinstance(unwrap(hot), NearCacheStore)
    assert not isinstance(unwrap(cache.store), NearCacheStore)
    hot.tracker.wait_ready(5)
    cache.set("hot:1", "v")
    held = False
    for _ in range(100):  # the push for our own write may arrive after the first read
        assert cache.get("hot:1") == "v"
        held = hot.local.get(cache.make_key("hot:1")) is not None
        if held:
            break
        time.sleep(0.01)
    assert held  # now served from process memory
    cache.invalidate_partition("hot")
    assert cache.get("hot:1") is None
    redis.Redis.from_url(redis_url).close()
    cache.clear()


def test_invalidation_grace_is_checked_and_used(make: Factory) -> None:
    with pytest.raises(ImproperlyConfigured, match="INVALIDATION_GRACE"):
        make_cache(INVALIDATION_GRACE=0)
    cache = make(INVALIDATION_GRACE=5)
    cache.set("k", "v")
    assert cache.invalidate("k") == 1
    assert 0 < cache._router.route("k").store.ttl(cache.make_key("k")) <= 5  # the marker's


def test_manage_py_check_reports_partition_mistakes(settings) -> None:
    from spotify_cache.checks import check_caches

    settings.CACHES = {
        "default": {
            "BACKEND": "spotify_cache.backend.SpotifyCache",
            "LOCATION": "memory://",
            "OPTIONS": {"PARTITIONS": {"p": {"PREFIX": "a", "MAX_BYTES": "lots"}}},
        }
    }
    [message] = [m for m in check_caches() if m.id == "spotify_cache.E006"]
    assert "CACHES['default']" in message.msg and "['p']" in message.msg
    assert "MAX_BYTES" in message.msg
