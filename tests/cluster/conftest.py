"""A real Redis Cluster (three primaries, one replica each) for the session."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis.cluster import RedisCluster

from spotify_cache.backend import SpotifyCache
from tests import redis_cluster as harness

Factory = Callable[..., SpotifyCache]

#: Fail-open off: these tests look at the cluster store itself (test_failover has both).
RAW: dict[str, Any] = {"FAIL_OPEN": False}


def raw_store(store: Any) -> Any:
    """The store under a fail-open wrapper (``FailoverStore.primary``), if any."""
    return getattr(store, "primary", store)


def cluster_unavailable_reason() -> str:
    return "no Redis Cluster: install redis-server and redis-cli, or set REDIS_CLUSTER_URL"


@pytest.fixture(scope="session")
def redis_cluster() -> str:
    """A startup node's URL; fails under CI when no cluster can be had, skips otherwise.
    The cluster is shared with the Django suite's cluster class and stopped at exit."""
    url = harness.shared()
    if url is None:
        if harness.in_ci():
            pytest.fail(cluster_unavailable_reason())
        pytest.skip(cluster_unavailable_reason())
    return url


@pytest.fixture
def cluster_client(redis_cluster: str) -> Iterator[RedisCluster]:
    """A plain redis-py cluster client, to look at the cluster behind the cache's back."""
    client = RedisCluster.from_url(redis_cluster)
    yield client
    client.close()


@pytest.fixture
def make_cluster_cache(redis_cluster: str) -> Iterator[Factory]:
    """``make(**options)``: a cache on the cluster with a fresh key prefix."""
    made: list[SpotifyCache] = []

    def build(**options: Any) -> SpotifyCache:
        prefix = options.pop("KEY_PREFIX", None) or f"c{uuid.uuid4().hex[:10]}"
        params = {"KEY_PREFIX": prefix, "OPTIONS": {"CLUSTER": True, **RAW, **options}}
        cache = SpotifyCache(redis_cluster, params)
        made.append(cache)
        return cache

    yield build
    for cache in made:
        cache.clear()
