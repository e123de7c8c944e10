"""Tracking invalidations survive keys that are not UTF-8 and failing subscribers;
``NEAR_CACHE: {}`` turns the near-cache on with its defaults."""

from __future__ import annotations

import os
import threading
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from spotify_cache.checks import check_caches
from spotify_cache.stores.near import DEFAULTS, NearCacheStore
from spotify_cache.stores.redis import RedisStore
from spotify_cache.stores.tracking import Tracker
from tests.helpers import make_cache


def wait_until(predicate, timeout: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.001)
    return predicate()


@pytest.fixture
def prefix() -> str:
    return "trk" + os.urandom(3).hex()


class Recorder:
    """A subscriber that records what it is told, and can be made to fail."""

    def __init__(self, fail_on_keys: bool = False) -> None:
        self.calls: list[list[str] | None] = []
        self.fail_on_keys = fail_on_keys
        self.lock = threading.Lock()

    def __call__(self, keys) -> None:
        with self.lock:
            self.calls.append(None if keys is None else list(keys))
        if keys is not None and self.fail_on_keys:
            raise RuntimeError("subscriber failed")

    def told(self, keys: set[str]) -> bool:
        with self.lock:
            return any(call is not None and set(call) == keys for call in self.calls)

    def emptied(self) -> bool:
        with self.lock:
            return None in self.calls


@pytest.fixture
def tracker(redis_url: str, prefix: str) -> Tracker:
    tracker = Tracker.for_prefix(redis_url, prefix)
    assert tracker.wait_ready(5)
    return tracker


def test_a_push_with_a_key_that_is_not_utf8_reaches_subscribers(
    tracker, prefix, redis_client
) -> None:
    recorder = Recorder()
    tracker.subscribe(recorder)
    recorder.calls.clear()  # drop the "empty everything" of the subscription
    redis_client.mset({prefix.encode() + b":\xff": b"x", f"{prefix}:a": b"y"})
    # one push carries both keys; the odd one arrives surrogate-escaped, losing nothing
    assert wait_until(lambda: recorder.told({f"{prefix}:\udcff", f"{prefix}:a"}))
    assert tracker.healthy


def test_fills_under_way_see_an_invalidation_of_a_key_that_is_not_utf8(
    tracker, prefix, redis_client
) -> None:
    epoch = tracker.epoch
    odd = f"{prefix}:\udcff"  # what a subscriber holds for the bytes prefix:\xff
    redis_client.set(prefix.encode() + b":\xff", b"x")
    assert wait_until(lambda: tracker.epoch > epoch)
    with tracker.fresh(epoch) as still_valid:
        assert not still_valid(odd)
        assert still_valid(f"{prefix}:untouched")


def test_a_failing_subscriber_is_emptied_instead(tracker, prefix, redis_client) -> None:
    failing, healthy = Recorder(fail_on_keys=True), Recorder()
    tracker.subscribe(failing)
    tracker.subscribe(healthy)
    failing.calls.clear()
    redis_client.set(f"{prefix}:k", b"v")
    assert wait_until(failing.emptied)  # told to drop everything, not left stale
    assert wait_until(lambda: healthy.told({f"{prefix}:k"}))  # the others are told as usual
    assert tracker.healthy


def held_locally(cache, key: str) -> bool:
    """Read ``key`` and report whether the near-cache keeps it: a fill can be dropped
    by the invalidation of the write just before it, which lands within a millisecond."""
    skey = cache.make_key(key)
    cache.get(key)
    if cache.store.local.get(skey) is None:
        return False
    time.sleep(0.05)
    return cache.store.local.get(skey) is not None


def test_the_near_cache_sees_a_change_pushed_beside_a_key_that_is_not_utf8(
    redis_url, prefix, redis_client
) -> None:
    cache = make_cache(redis_url, KEY_PREFIX=prefix, NEAR_CACHE={"TTL": 30})
    assert cache.store.tracker.wait_ready(5)
    cache.set("a", "old")
    assert wait_until(lambda: held_locally(cache, "a"), 5)
    skey = cache.make_key("a")
    new = cache._codec.encode(skey, "new")  # what another process's cache.set would write
    redis_client.mset({cache.make_key("").encode() + b"\xff": b"x", skey: new})
    try:
        assert wait_until(lambda: cache.get("a") == "new")
    finally:
        cache.clear()


# -- NEAR_CACHE values -------------------------------------------------------------------------
def test_an_empty_near_cache_dict_means_on_with_defaults(redis_url, prefix) -> None:
    store = make_cache(redis_url, KEY_PREFIX=prefix, NEAR_CACHE={}).store.primary
    assert isinstance(store, NearCacheStore)
    assert store.local.max_entries == DEFAULTS["MAX_ENTRIES"]
    assert store.ttl_limit == DEFAULTS["TTL"]


@pytest.mark.parametrize("off", [None, False])
def test_none_and_false_mean_off(redis_url, prefix, off) -> None:
    store = make_cache(redis_url, KEY_PREFIX=prefix, NEAR_CACHE=off).store.primary
    assert type(store) is RedisStore


@pytest.mark.parametrize("value", [{}, None, False])
def test_the_system_checks_accept_every_documented_value(value) -> None:
    cache = {"BACKEND": "spotify_cache.backend.SpotifyCache", "LOCATION": "redis://h:6379/0"}
    with override_settings(
        DEBUG=True, CACHES={"default": {**cache, "OPTIONS": {"NEAR_CACHE": value}}}
    ):
        assert check_caches() == []


@pytest.mark.parametrize("value", [0, "", [], "yes"])
def test_other_values_are_still_refused(redis_url, value) -> None:
    with pytest.raises(ImproperlyConfigured, match="NEAR_CACHE"):
        make_cache(redis_url, NEAR_CACHE=value)
