"""A cache on each store, with a fresh key prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from spotify_cache.backend import SpotifyCache

PARTITIONS = {
    "listeners": {"PREFIX": "spotify:user:", "TIMEOUT": 3600, "MAX_TIMEOUT": 86400},
    "vip": {"PREFIX": "spotify:user:vip:"},
    "catalog": {"PREFIX": "spotify:track:", "TIMEOUT": None, "SERIALIZER": "json"},
}

Factory = Callable[..., SpotifyCache]


@pytest.fixture(params=["memory", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make(store_kind: str, request: pytest.FixtureRequest) -> Factory:
    """``make(**options)``: a cache on this test's store, its own prefix."""
    location = "memory://"
    if store_kind == "redis":
        location = request.getfixturevalue("redis_url")
    made: list[SpotifyCache] = []

    def build(**options: Any) -> SpotifyCache:
        prefix = options.pop("KEY_PREFIX", None) or f"p{uuid.uuid4().hex[:10]}"
        where = location if store_kind == "redis" else f"memory://{prefix}"
        cache = SpotifyCache(where, {"KEY_PREFIX": prefix, "OPTIONS": options})
        made.append(cache)
        return cache

    yield build
    for cache in made:
        cache.clear()
