"""Misconfiguration fails loudly, naming the setting; system checks carry ids."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from spotify_cache.checks import check_caches
from spotify_cache.codecs.sealing import generate_key
from spotify_cache.stores.base import Store
from tests.helpers import make_cache


class DictStore(Store):
    """A user-written store: the whole contract in a few lines."""

    def __init__(self, location: str, options: Mapping[str, Any], *, namespace: str = "*") -> None:
        super().__init__(location, options, namespace=namespace)
        self.data: dict[str, bytes] = {}

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value, ttl):
        if ttl is not None and ttl <= 0:
            self.data.pop(key, None)
        else:
            self.data[key] = value

    def add(self, key, value, ttl):
        if key in self.data:
            return False
        self.set(key, value, ttl)
        return True

    def compare_and_set(self, key, expected, value):
        if self.data.get(key) != expected:
            return False
        self.data[key] = value
        return True

    def touch(self, key, ttl):
        return key in self.data

    def delete(self, key):
        return self.data.pop(key, None) is not None

    def clear(self):
        self.data.clear()


def test_store_by_dotted_path() -> None:
    cache = make_cache("dict://anything", STORE="tests.test_configuration.DictStore")
    cache.set("k", {"v": 1})
    cache.set("n", 1)
    assert cache.incr("n") == 2
    assert cache.get("k") == {"v": 1}
    assert isinstance(cache.store.primary, DictStore)  # behind fail-open's FailoverStore
    assert cache.store.data[cache.make_key("k")] != b'{"v": 1}'  # sealed even here


@pytest.mark.parametrize(
    ("location", "options", "names"),
    [
        ("memory://", {"MAX_ENTRYS": 10}, "MAX_ENTRYS"),
        ("redis://127.0.0.1:6379/0", {"MAX_ENTRIES": 10}, "MAX_ENTRIES"),
        ("memcached://x", {}, "LOCATION"),
        ("memory://", {"STRATEGY": "mru"}, "STRATEGY"),
        ("memory://", {"SERIALIZER": "yaml"}, "SERIALIZER"),
        ("memory://", {"COMPRESSOR": "brotli"}, "COMPRESSOR"),
        ("memory://", {"ENCRYPTION_KEYS": ["c2hvcnQ="]}, "ENCRYPTION_KEYS[0]"),
        ("memory://", {"ENCRYPTION_KEYS": ["not base64!"]}, "ENCRYPTION_KEYS[0]"),
        ("memory://", {"ALGORITHM": "rot13", "ENCRYPTION_KEYS": [generate_key()]}, "ALGORITHM"),
        ("memory://", {"STORE": "tests.nowhere.Store"}, "STORE"),
        ("memory://", {"STORE": "builtins.dict"}, "STORE"),
        ("memory://", {"MAX_ENTRIES": "300"}, 'OPTIONS["MAX_ENTRIES"]'),
        ("memory://", {"CULL_FREQUENCY": -1}, 'OPTIONS["CULL_FREQUENCY"]'),
        ("memory://", {"MAX_BYTES": True}, 'OPTIONS["MAX_BYTES"]'),
        ("memory://", {"TIMER": 3}, 'OPTIONS["TIMER"]'),
        ("memory://", {"MAX_VALUE_BYTES": "32M"}, 'OPTIONS["MAX_VALUE_BYTES"]'),
        ("memory://", {"COMPRESS_MIN_BYTES": -1}, 'OPTIONS["COMPRESS_MIN_BYTES"]'),
        ("redis://127.0.0.1:6379/0", {"SOCKET_TIMEOUT": "0.25"}, 'OPTIONS["SOCKET_TIMEOUT"]'),
        ("redis://127.0.0.1:6379/0", {"RETRIES": -1}, 'OPTIONS["RETRIES"]'),
        ("redis://127.0.0.1:6379/0", {"MAX_CONNECTIONS": 0}, 'OPTIONS["MAX_CONNECTIONS"]'),
        ("redis://127.0.0.1:6379/0", {"CLEAR": "all"}, 'OPTIONS["CLEAR"]'),
        (
            "redis://127.0.0.1:6379/0",
            {"CONNECTION_POOL_KWARGS": {"decode_responses": True}},
            'OPTIONS["CONNECTION_POOL_KWARGS"]["decode_responses"]',
        ),
        ("redis://127.0.0.1:6379/0", {"NEAR_CACHE": {"TTL": 0}}, 'OPTIONS["NEAR_CACHE"]["TTL"]'),
        (
            "redis://127.0.0.1:6379/0",
            {"NEAR_CACHE": {"MAX_ENTRIES": 1.5}},
            'OPTIONS["NEAR_CACHE"]["MAX_ENTRIES"]',
        ),
    ],
)
def test_misconfiguration_names_the_setting(location: str, options: dict, names: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=re.escape(names)):
        make_cache(location, **options)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            [generate_key()[:20] + "!!@@ " + generate_key()[20:]],
            "ENCRYPTION_KEYS[0] is not url-safe",
        ),
        ([generate_key().encode()], "ENCRYPTION_KEYS[0] must be a string"),
        ([12345], "ENCRYPTION_KEYS[0] must be a string"),
        (12345, "ENCRYPTION_KEYS must be a list"),
    ],
)
def test_keys_are_parsed_strictly(keys: Any, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        make_cache("memory://", ENCRYPTION_KEYS=keys)


def test_a_duplicate_key_is_named() -> None:
    key = generate_key()
    with pytest.raises(
        ImproperlyConfigured,
        match=re.escape("ENCRYPTION_KEYS[1] is the same key as ENCRYPTION_KEYS[0]"),
    ):
        make_cache("memory://", ENCRYPTION_KEYS=[key, key])


def test_bad_key_is_never_echoed() -> None:
    bad = "c2VjcmV0LWJ1dC1zaG9ydA=="
    with pytest.raises(ImproperlyConfigured) as info:
        make_cache("memory://", ENCRYPTION_KEYS=[bad])
    assert bad not in str(info.value)


def ids(settings: Any, debug: bool, **cache: Any) -> list[str]:
    settings.DEBUG = debug
    settings.CACHES = {"default": {"BACKEND": "spotify_cache.backend.SpotifyCache", **cache}}
    # Django's own cache checks instantiate every cache (and would raise first):
    # run ours, as `manage.py check` does right after them.
    return [m.id for m in check_caches()]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"ENCRYPTION_KEYS": ["c2hvcnQ="]}, "spotify_cache.E001"),
        ({"STRATEGY": "mru"}, "spotify_cache.E002"),
        ({"SERIALIZER": "yaml"}, "spotify_cache.E003"),
        ({"MAX_ENTRYS": 1}, "spotify_cache.E004"),
        ({"MAX_ENTRIES": "many"}, "spotify_cache.E004"),
    ],
)
def test_system_check_errors(settings, options: dict, expected: str) -> None:
    assert expected in ids(settings, True, LOCATION="memory://", OPTIONS=options)


def test_warning_without_keys_when_debug_is_off(settings) -> None:
    assert "spotify_cache.W001" in ids(settings, False, LOCATION="memory://")
    assert "spotify_cache.W001" not in ids(settings, True, LOCATION="memory://")
    keys = {"ENCRYPTION_KEYS": [generate_key()]}
    assert ids(settings, False, LOCATION="memory://", OPTIONS=keys) == []


def test_generate_cache_key_command(capsys) -> None:
    call_command("generate_cache_key")
    key = capsys.readouterr().out.strip()
    make_cache("memory://", ENCRYPTION_KEYS=[key]).set("k", 1)
