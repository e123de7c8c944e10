"""Partitions, tags and race-safe read-through on the cluster: the tests of
``tests/partitions`` that take a ``make`` fixture, run on a cache with
``CLUSTER``, plus what only a cluster can show (records on every primary)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator

import pytest
from redis.cluster import RedisCluster

from spotify_cache.stores.cluster_near import ClusterNearCacheStore
from spotify_cache.stores.cluster_versions import ClusterVersions
from tests.cluster.conftest import Factory, raw_store
from tests.partitions import test_partitions, test_readthrough, test_tags
from tests.partitions.conftest import PARTITIONS

#: Tests whose helpers rebuild the cache's settings without CLUSTER (``_params``).
STANDALONE_ONLY = {"test_cached_decorator", "test_cached_methods_async_and_partition_checks"}

for module in (test_partitions, test_readthrough, test_tags):
    globals().update(
        {
            name: test
            for name, test in vars(module).items()
            if name.startswith("test_")
            and name not in STANDALONE_ONLY
            and "make" in inspect.signature(test).parameters
        }
    )


@pytest.fixture
def store_kind() -> str:
    return "redis"  # the tests' Redis branches (records in the server, lost by hand)


@pytest.fixture
def make(make_cluster_cache: Factory) -> Factory:
    return make_cluster_cache


@pytest.fixture
def redis_client(cluster_client: RedisCluster) -> Iterator[RedisCluster]:
    yield cluster_client  # scan_iter covers every primary, delete() splits by slot


def _commands(client: RedisCluster) -> int:
    stats = client.info("stats", target_nodes=RedisCluster.PRIMARIES)
    return sum(int(node["total_commands_processed"]) for node in stats.values())


def test_records_spread_over_the_primaries_and_are_tracked_on_each(
    make: Factory, cluster_client: RedisCluster
) -> None:
    cache = make(PARTITIONS=PARTITIONS)
    tags = [f"artist:{i}" for i in range(24)]
    cache.set("spotify:user:1", "v", tags=tags)
    versions = cache._router.versions
    assert isinstance(versions, ClusterVersions)
    keys = [versions.key(f"t:{tag}") for tag in tags]
    assert len({cluster_client.get_node_from_key(k).name for k in keys}) == 3
    assert versions.tracker.wait_ready(5)
    assert len(versions.tracker._nodes) == 3
    assert cache.get("spotify:user:1") == "v"
    cluster_client.delete(keys[5])  # one record, on whichever primary holds it
    assert test_tags._eventually(lambda: cache.get("spotify:user:1") is None)


def test_a_warm_get_through_a_partition_and_two_tags_is_one_command(
    make: Factory, cluster_client: RedisCluster
) -> None:
    cache = make(PARTITIONS=PARTITIONS)
    cache.set("spotify:user:1", {"top": [1, 2]}, tags=["listener:1", "genre:rock"])
    assert cache._router.versions.tracker.wait_ready(5)
    assert cache.get("spotify:user:1") == {"top": [1, 2]}  # warms the records
    before = _commands(cluster_client)
    for _ in range(200):
        assert cache.get("spotify:user:1") == {"top": [1, 2]}
    spent = _commands(cluster_client) - before - 3  # the INFO on each primary
    assert 200 <= spent <= 206  # one GET each (tracking PINGs may land in between)


def test_invalidating_a_tag_of_thousands_is_one_command(
    make: Factory, cluster_client: RedisCluster
) -> None:
    cache = make(PARTITIONS=PARTITIONS)
    cache.set_many({f"spotify:user:{i}": i for i in range(3000)}, tags=["big"])
    before = _commands(cluster_client)
    cache.invalidate_tags("big")
    assert _commands(cluster_client) - before - 3 <= 4  # one UNLINK (+ tracking PINGs)
    assert cache.get_many([f"spotify:user:{i}" for i in range(0, 3000, 97)]) == {}


def test_memory_only_fields_are_refused_on_the_cluster(redis_cluster: str) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from spotify_cache.backend import SpotifyCache

    options = {"CLUSTER": True, "PARTITIONS": {"p": {"PREFIX": "p:", "MAX_BYTES": 100}}}
    with pytest.raises(ImproperlyConfigured, match="memory store only"):
        SpotifyCache(redis_cluster, {"OPTIONS": options})


def test_a_partition_with_its_own_near_cache(make: Factory, cluster_client: RedisCluster) -> None:
    cache = make(
        PARTITIONS={**PARTITIONS, "catalog": {"PREFIX": "spotify:track:", "NEAR_CACHE": {}}}
    )
    store = raw_store(cache._router.route("spotify:track:1").store)
    assert isinstance(store, ClusterNearCacheStore)
    assert cache._router.route("spotify:user:1").store is cache.store
    assert store.tracker.wait_ready(5)
    cache.set("spotify:track:1", "Yesterday")
    skey = cache.make_key("spotify:track:1")

    def held_in_process() -> bool:  # once the push of our own write has come back
        return cache.get("spotify:track:1") == "Yesterday" and store.local.get(skey) is not None

    assert test_tags._eventually(held_in_process)
    cluster_client.delete(cache.make_key("spotify:track:1"))
    assert test_tags._eventually(lambda: cache.get("spotify:track:1") is None)


def test_async_partitions_tags_and_invalidation(make: Factory) -> None:
    cache = make(PARTITIONS=PARTITIONS)

    async def scenario() -> None:
        await cache.aset("spotify:user:1", "a", tags=["x"])
        await cache.aset_many({"spotify:user:2": "b", "spotify:track:2": "c"}, tags=["y"])
        assert await cache.aget("spotify:user:1") == "a"
        await cache.ainvalidate_tags("x", "y")
        assert await cache.aget_many(["spotify:user:1", "spotify:user:2"]) == {}
        await cache.aset("spotify:user:3", "d")
        await cache.ainvalidate_partition("listeners")
        assert await cache.aget("spotify:user:3") is None

    asyncio.run(scenario())
