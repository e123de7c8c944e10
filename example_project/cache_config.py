"""The example project's ``CACHES["default"]``: one partition per business domain.

The prefixes come from ``music/keys.py``, which builds every key the
services use, so a key cannot miss its partition.  TTLs follow how each
domain is invalidated (``music/cache_bindings.py``):

* ``listeners``: top tracks are invalidated on every play, so an hour is
  safe; the most-active-listeners list asks for 5 minutes itself.
* ``recommendations``: plays do not invalidate them (they would, all the
  time), so they may lag half an hour behind; they cost the most to compute.
* ``tracks``: charts, artist pages and playlists, shared by every listener;
  charts ask for 5 minutes themselves (plays move them).

On the memory store recommendations get a byte quota of their own, so a
crawl over every listener's recommendations cannot evict the charts; on
Redis the listeners' data gets an in-process near-cache.
"""

from __future__ import annotations

from typing import Any

from example_project.music.keys import PREFIXES

HOUR = 3600

POLICIES: dict[str, dict[str, Any]] = {
    "listeners": {"TIMEOUT": HOUR, "MAX_TIMEOUT": 24 * HOUR},
    "recommendations": {"TIMEOUT": HOUR // 2, "MAX_TIMEOUT": 6 * HOUR},
    "tracks": {"TIMEOUT": HOUR, "MAX_TIMEOUT": 24 * HOUR},
}
# About 2 KB per listener: room for a thousand listeners' recommendations.
MEMORY_ONLY = {"recommendations": {"MAX_BYTES": 2 * 2**20}}
REDIS_ONLY = {"listeners": {"NEAR_CACHE": {"MAX_ENTRIES": 2000, "TTL": 60}}}


def partitions(on_redis: bool) -> dict[str, dict[str, Any]]:
    """``OPTIONS["PARTITIONS"]`` for the memory store or for Redis."""
    extra = REDIS_ONLY if on_redis else MEMORY_ONLY
    return {
        name: {"PREFIX": prefix, **POLICIES[name], **extra.get(name, {})}
        for name, prefix in PREFIXES.items()
    }


def default_cache(redis_url: str = "", key_prefix: str = "example") -> dict[str, Any]:
    """The ``CACHES["default"]`` entry: Redis at ``redis_url``, else the memory store."""
    # Redis evicts by its own maxmemory-policy; the memory store needs a bound.
    options: dict[str, Any] = {} if redis_url else {"MAX_ENTRIES": 10000, "STRATEGY": "lru"}
    return {
        "BACKEND": "spotify_cache.backend.SpotifyCache",
        "LOCATION": redis_url or "memory://",
        "TIMEOUT": 300,  # sessions and anything outside the partitions
        "KEY_PREFIX": key_prefix,
        "OPTIONS": {**options, "PARTITIONS": partitions(on_redis=bool(redis_url))},
    }
