"""The seed's example, as written, and the facade's other entry points."""

from __future__ import annotations

import asyncio

import pytest
import redis

from spotify_cache.backend import SpotifyCache
from spotify_cache.codecs.sealing import generate_key
from spotify_cache.signals import invalidated
from tests.helpers import Collector


def test_seed_example_on_redis_writes_ciphertext(redis_url: str, settings) -> None:
    settings.SPOTIFY_CACHE_REDIS_URL = redis_url
    settings.SPOTIFY_CACHE_ENCRYPTION_KEYS = [generate_key()]
    from spotify_cache import CacheManager

    cache = CacheManager(backend="redis")
    cache.set("spotify:user:123", {"top_tracks": ["Hey Jude", "Let It Be"]}, ttl=3600)
    data = cache.get("spotify:user:123")
    assert data == {"top_tracks": ["Hey Jude", "Let It Be"]}

    raw = redis.Redis.from_url(redis_url).get(":1:spotify:user:123")
    assert raw is not None and b"Hey Jude" not in raw and b"top_tracks" not in raw
    assert 3590 < cache.cache.ttl("spotify:user:123") <= 3600

    with Collector(invalidated) as seen:
        assert cache.invalidate("spotify:user:123") == 1
        assert cache.invalidate("spotify:user:123") == 0
    assert cache.get("spotify:user:123") is None
    assert [(c["kind"], c["targets"], c["count"]) for c in seen.calls] == [
        ("key", ("spotify:user:123",), 1),
        ("key", ("spotify:user:123",), 0),
    ]


def test_alias_from_settings_is_the_configured_backend() -> None:
    from django.core.cache import caches

    from spotify_cache import CacheManager

    cache = CacheManager()  # "default"
    assert cache.cache is caches["default"]
    cache.set("k", [1, 2], ttl=None)
    assert caches["default"].get("k") == [1, 2]


def test_standalone_memory_with_options() -> None:
    from spotify_cache import CacheManager

    cache = CacheManager(
        backend="memory",
        location="memory://standalone",
        options={"MAX_ENTRIES": 2, "CULL_FREQUENCY": 2},
        KEY_PREFIX="sa",
    )
    assert isinstance(cache.cache, SpotifyCache)
    assert cache.get_or_set("a", lambda: 1) == 1
    cache.set_many({"b": 2, "c": 3})
    assert len(cache.get_many(["a", "b", "c"])) < 3  # MAX_ENTRIES=2 culled
    cache.clear()
    assert cache.get_many(["a", "b", "c"]) == {}


def test_unknown_backend_is_a_clear_error() -> None:
    from spotify_cache import CacheManager

    with pytest.raises(ValueError, match="mongodb"):
        CacheManager(backend="mongodb")


def test_async_facade(redis_url: str) -> None:
    from spotify_cache import CacheManager

    cache = CacheManager(backend="redis", location=redis_url, KEY_PREFIX="afacade")

    async def scenario() -> None:
        await cache.aset("k", {"a": 1}, ttl=60)
        assert await cache.aget("k") == {"a": 1}
        assert await cache.ainvalidate("k") == 1
        assert await cache.aget_or_set("k", 5) == 5

    asyncio.run(scenario())
    cache.clear()
