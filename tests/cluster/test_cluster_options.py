"""``OPTIONS["CLUSTER"]``: which store it picks and what it refuses (no cluster needed)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from spotify_cache import options as config
from spotify_cache.stores.cluster import RedisClusterStore
from spotify_cache.stores.cluster_near import ClusterNearCacheStore
from spotify_cache.stores.memory import MemoryStore
from spotify_cache.stores.redis import RedisStore

NODE = "redis://127.0.0.1:7000"


@pytest.mark.parametrize(
    ("location", "options", "expected"),
    [
        (NODE, {"CLUSTER": True}, RedisClusterStore),
        ([NODE, "redis://127.0.0.1:7001"], {"CLUSTER": True}, RedisClusterStore),
        (f"{NODE}, redis://127.0.0.1:7001", {"CLUSTER": True}, RedisClusterStore),
        (NODE, {"STORE": "cluster"}, RedisClusterStore),
        (NODE, {"CLUSTER": True, "NEAR_CACHE": {}}, ClusterNearCacheStore),
        (NODE, {"CLUSTER": False}, RedisStore),
        ("memory://", {"CLUSTER": False}, MemoryStore),
        (NODE, {"CLUSTER": None}, RedisStore),
    ],
)
def test_cluster_picks_the_store(location, options, expected) -> None:
    assert config.read_config(location, options).store_cls is expected


@pytest.mark.parametrize(
    ("location", "options", "message"),
    [
        ("memory://", {"CLUSTER": True}, "needs LOCATION redis://"),
        ("unix:///tmp/redis.sock", {"CLUSTER": True}, "a cluster node is redis://host:port"),
        (f"{NODE}/1", {"CLUSTER": True}, "database 0 only"),
        ([NODE, "rediss://127.0.0.1:7001"], {"CLUSTER": True}, "same scheme"),
        ([NODE, "redis://u:p@127.0.0.1:7001"], {"CLUSTER": True}, "same scheme and credentials"),
        (NODE, {"CLUSTER": True, "STORE": "redis"}, "primary and its read replicas"),
        (NODE, {"CLUSTER": True, "STORE": "memory"}, "drop OPTIONS"),
        (NODE, {"STORE": "cluster", "CLUSTER": False}, 'set OPTIONS\\["CLUSTER"\\]'),
        (NODE, {"CLUSTER": "yes"}, "must be True or False"),
        (NODE, {"CLUSTER": True, "NEAR_CACHE": {"SIZE": 1}}, "NEAR_CACHE"),
        (NODE, {"CLUSTER": True, "CONNECTION_POOL_KWARGS": {"db": 1}}, "database 0 only"),
        (NODE, {"CLUSTER": True, "RETRIES": -1}, "RETRIES"),
    ],
)
def test_cluster_mistakes_are_refused_naming_the_setting(location, options, message) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        config.read_config(location, options)


def test_building_the_store_does_not_need_the_cluster() -> None:
    """The client talks to the cluster on first use: a cluster that is down is a
    ``StoreUnavailable`` on the calls, not a cache that cannot be built."""
    from spotify_cache.exceptions import StoreUnavailable
    from tests.redis_server import free_port

    store = RedisClusterStore(f"redis://127.0.0.1:{free_port()}", {"SOCKET_CONNECT_TIMEOUT": 0.05})
    with pytest.raises(StoreUnavailable):
        store.get("k")
    with pytest.raises(StoreUnavailable):
        store.set_many({"a": b"1", "b": b"2"}, 10)
