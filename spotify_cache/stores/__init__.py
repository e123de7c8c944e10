"""Stores: where sealed blobs live.  ``base.Store`` is the whole contract."""

from .base import Store

BUILTIN = {
    "memory": "spotify_cache.stores.memory.MemoryStore",
    "redis": "spotify_cache.stores.redis.RedisStore",
    "cluster": "spotify_cache.stores.cluster.RedisClusterStore",
}

__all__ = ["BUILTIN", "Store"]
