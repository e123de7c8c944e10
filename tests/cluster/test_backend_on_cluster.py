"""SpotifyCache on the cluster: listing, clearing and deleting by pattern across
every primary while staying off other caches' keys, and the rest of the API."""

from __future__ import annotations

import asyncio
import threading

import pytest
from redis.cluster import RedisCluster

from spotify_cache.backend import SpotifyCache
from spotify_cache.stores.cluster import RedisClusterStore
from tests.cluster.conftest import Factory, raw_store

NAMES = [f"user:{i}" for i in range(40)] + [f"track:{i}" for i in range(20)]
FOREIGN = [b"\xff\xfe-not-utf8", b"x:\xc3"]


def _spread(client: RedisCluster, keys: list[str]) -> int:
    return len({client.get_node_from_key(k).name for k in keys})


@pytest.fixture
def pair(make_cluster_cache: Factory) -> tuple[SpotifyCache, SpotifyCache]:
    """Two caches whose prefixes nest ("p" and "p:x"): only ``owns`` keeps them apart."""
    mine = make_cluster_cache(KEY_PREFIX="nsp")
    theirs = make_cluster_cache(KEY_PREFIX="nsp:x")
    for cache in (mine, theirs):
        cache.set_many(dict.fromkeys(NAMES, "v"))
    return mine, theirs


@pytest.fixture
def foreign(cluster_client: RedisCluster, pair) -> list[bytes]:
    """Keys in the first cache's key space that no str key encodes to."""
    keys = [b"nsp:1:" + tail for tail in FOREIGN]
    for key in keys:
        cluster_client.set(key, b"x")
    yield keys
    cluster_client.delete(*keys)


def test_keys_of_one_cache_live_on_every_primary(pair, cluster_client: RedisCluster) -> None:
    mine, _ = pair
    assert _spread(cluster_client, [mine.make_key(n) for n in NAMES]) == 3


def test_iter_keys_and_delete_pattern_cover_every_primary(pair, foreign) -> None:
    mine, theirs = pair
    assert sorted(mine.iter_keys("user:*")) == sorted(n for n in NAMES if n.startswith("user:"))
    assert sorted(mine.iter_keys("*")) == sorted(NAMES)  # not theirs, not the foreign bytes
    assert mine.delete_pattern("track:*") == 20
    assert sorted(mine.iter_keys("*")) == sorted(n for n in NAMES if n.startswith("user:"))
    assert sorted(theirs.iter_keys("*")) == sorted(NAMES)  # the other cache kept every key


def test_clear_keeps_other_caches_and_foreign_keys(
    pair, foreign, cluster_client: RedisCluster
) -> None:
    mine, theirs = pair
    mine.clear()
    assert list(mine.iter_keys("*")) == []
    assert theirs.get_many(NAMES) == dict.fromkeys(NAMES, "v")
    assert all(cluster_client.exists(key) for key in foreign)


def test_async_clear_keeps_other_caches_and_foreign_keys(
    pair, foreign, cluster_client: RedisCluster
) -> None:
    mine, theirs = pair
    asyncio.run(mine.aclear())
    assert mine.get_many(NAMES) == {}
    assert theirs.get_many(NAMES) == dict.fromkeys(NAMES, "v")
    assert all(cluster_client.exists(key) for key in foreign)


def test_incr_ttl_expire_persist_and_lock(make_cluster_cache: Factory) -> None:
    cache = make_cluster_cache()
    cache.set("plays", 10, 100)
    assert cache.incr("plays", 5) == 15
    assert 95 < cache.ttl("plays") <= 100  # incr keeps the TTL (Lua on one key)
    assert cache.persist("plays") and cache.ttl("plays") is None
    assert cache.expire("plays", 30) and 25 < cache.ttl("plays") <= 30
    assert isinstance(cache.get_client(), RedisCluster)
    with cache.lock("job", timeout=5):
        assert not cache.lock("job", timeout=5, blocking=False).acquire()


def test_incr_is_atomic_across_threads(make_cluster_cache: Factory) -> None:
    cache = make_cluster_cache()
    cache.set("n", 0)
    threads = [
        threading.Thread(target=lambda: [cache.incr("n") for _ in range(50)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.get("n") == 200


def test_get_or_set_add_and_delete_many(make_cluster_cache: Factory) -> None:
    cache = make_cluster_cache()
    assert cache.get_or_set("a", lambda: [1, 2]) == [1, 2]
    assert not cache.add("a", "other") and cache.add("b", "new")
    cache.delete_many(["a", "b", "c"])
    assert cache.get_many(["a", "b"]) == {}


def test_one_client_per_process_per_configuration(redis_cluster: str) -> None:
    first = RedisClusterStore(redis_cluster, {"SOCKET_TIMEOUT": 0.5})
    second = RedisClusterStore(redis_cluster, {"SOCKET_TIMEOUT": 0.5})
    other = RedisClusterStore(redis_cluster, {"SOCKET_TIMEOUT": 0.4})
    assert first.client() is second.client()
    assert other.client() is not first.client()
    pool = first.client().get_primaries()[0].redis_connection.connection_pool
    assert pool.connection_kwargs["socket_timeout"] == 0.5


def test_several_startup_nodes_in_one_string(redis_cluster: str, cluster_client) -> None:
    nodes = ",".join(f"redis://{n.host}:{n.port}" for n in cluster_client.get_primaries())
    cache = SpotifyCache(nodes, {"KEY_PREFIX": "multi", "OPTIONS": {"CLUSTER": True}})
    cache.set("k", "v")
    assert cache.get("k") == "v"
    assert len(raw_store(cache.store).urls) == 3
    cache.clear()
