"""Odd timeouts (inf, NaN, 1e20) follow one rule on every store.

The rule is ``spotify_cache.timeouts.seconds``: ``inf`` and anything longer
than Redis can express means "for ever", NaN raises ``ValueError`` at the call.
Before, Redis raised ``OverflowError`` (inf) or a ``StoreError`` (1e20) where
the memory store accepted both.
"""

from __future__ import annotations

import asyncio
import math
import os

import pytest

from spotify_cache import timeouts
from spotify_cache.stores.redis import RedisStore
from tests.helpers import make_cache

FOREVER = [math.inf, 1e20, 10**400]


@pytest.mark.parametrize("value", FOREVER)
def test_forever_after_what_redis_can_express(value) -> None:
    assert timeouts.seconds(value) is None


def test_ordinary_timeouts_are_float_seconds() -> None:
    assert timeouts.seconds(None) is None
    assert timeouts.seconds(300) == 300.0
    assert timeouts.seconds(0) == 0.0
    assert timeouts.seconds(-math.inf) == -math.inf  # expired at once, like any value <= 0
    assert timeouts.seconds(timeouts.FOREVER_AFTER / 2) == timeouts.FOREVER_AFTER / 2


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        timeouts.seconds(math.nan)


@pytest.fixture
def store(redis_url: str):
    made = RedisStore(redis_url, {}, namespace=f"to{os.urandom(3).hex()}:*")
    yield made
    made.clear()


@pytest.mark.parametrize("value", [math.inf, 1e20])
def test_the_redis_store_keeps_longer_than_it_can_say(store, value) -> None:
    key = store.namespace[:-1] + "k"
    store.set(key, b"v", value)
    assert store.get(key) == b"v"
    assert store.add(key + "2", b"v", value)
    assert store.touch(key, value)
    store.set_many({key + "3": b"v"}, value)
    asyncio.run(store.aset(key + "4", b"v", value))
    assert store.get_many([key + "2", key + "3", key + "4"]) == [b"v"] * 3
    assert store.ttl(key) > 10**9  # seconds: tens of years at the very least


def test_the_redis_store_refuses_nan(store) -> None:
    with pytest.raises(ValueError, match="NaN"):
        store.set(store.namespace[:-1] + "k", b"v", math.nan)


@pytest.mark.parametrize("where", ["memory", "redis"])
def test_one_rule_through_the_cache(where, redis_url) -> None:
    location = "memory://" if where == "memory" else redis_url
    cache = make_cache(location, KEY_PREFIX=f"tc{os.urandom(3).hex()}")
    for value in FOREVER:
        cache.set("k", 1, timeout=value)
        assert cache.get("k") == 1 and cache.ttl("k") is None
    with pytest.raises(ValueError):
        cache.set("k", 1, timeout=math.nan)
    cache.clear()
