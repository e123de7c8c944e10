"""Django's own ``BaseCacheTests`` run against ``SpotifyCache``.

The suite comes from Django's sdist at test time (``tests/django_suite.py``);
each class below is one configuration of our backend.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import TestCase, override_settings

from spotify_cache.codecs.sealing import generate_key
from tests import redis_server

BACKEND = "spotify_cache.backend.SpotifyCache"
KEYS = [generate_key(), generate_key()]

if settings.DJANGO_SUITE_ERROR:
    pytest.fail(
        f"Django's cache test suite could not be fetched: {settings.DJANGO_SUITE_ERROR}",
        pytrace=False,
    )

suite = importlib.import_module("cache.tests")


def spotify_caches(location: str, exclude: set[str] | None = None, **options: Any) -> dict:
    """Django's test cache aliases on our backend, with ``options`` merged into each."""
    setting = suite.caches_setting_for_tests(BACKEND=BACKEND, LOCATION=location, exclude=exclude)
    for params in setting.values():
        params["OPTIONS"] = {**params.get("OPTIONS", {}), **options}
    return setting


class SpotifyCacheSuite(suite.BaseCacheTests):
    def tearDown(self) -> None:
        # Our clear() removes only one cache's keys (never FLUSHDB): clear every alias.
        for alias in settings.CACHES:
            caches[alias].clear()


@override_settings(CACHES=spotify_caches("memory://"))
class MemoryLRUDjangoSuite(SpotifyCacheSuite, TestCase):
    pass


@override_settings(CACHES=spotify_caches("memory://", STRATEGY="lfu"))
class MemoryLFUDjangoSuite(SpotifyCacheSuite, TestCase):
    pass


@override_settings(CACHES=spotify_caches("memory://", STRATEGY="adaptive"))
class MemoryAdaptiveDjangoSuite(SpotifyCacheSuite, TestCase):
    pass


@override_settings(CACHES=spotify_caches("memory://", ENCRYPTION_KEYS=KEYS, ALGORITHM="fernet"))
class MemoryFernetDjangoSuite(SpotifyCacheSuite, TestCase):
    pass


#: Partitions that route some of the suite's keys ("key...", "answer...", "foo...")
#: through their own policy, codec and store.
PARTITIONS = {
    "keys": {"PREFIX": "key", "TIMEOUT": 300, "COMPRESSOR": "zlib"},
    "answers": {"PREFIX": "answer", "MAX_TIMEOUT": 10**9},
}


@override_settings(
    CACHES=spotify_caches(
        "memory://",
        PARTITIONS={**PARTITIONS, "foo": {"PREFIX": "foo", "MAX_BYTES": 2**20, "STRATEGY": "lfu"}},
    )
)
class MemoryPartitionedDjangoSuite(SpotifyCacheSuite, TestCase):
    pass


REDIS_URL = os.environ.get("REDIS_URL", "")
NO_CULL = {"cull", "zero_cull"}  # Redis evicts by maxmemory-policy, as in Django's RedisCacheTests

if REDIS_URL:

    @override_settings(CACHES=spotify_caches(REDIS_URL, exclude=NO_CULL, ENCRYPTION_KEYS=KEYS))
    class RedisAesGcmDjangoSuite(SpotifyCacheSuite, TestCase):
        pass

    @override_settings(CACHES=spotify_caches(REDIS_URL, exclude=NO_CULL))
    class RedisHmacDjangoSuite(SpotifyCacheSuite, TestCase):
        pass

    @override_settings(
        CACHES=spotify_caches(
            REDIS_URL,
            exclude=NO_CULL,
            ENCRYPTION_KEYS=KEYS,
            NEAR_CACHE={"MAX_ENTRIES": 100, "STRATEGY": "adaptive"},
        )
    )
    class RedisNearCacheDjangoSuite(SpotifyCacheSuite, TestCase):
        pass

    @override_settings(
        CACHES=spotify_caches(
            REDIS_URL,
            exclude=NO_CULL,
            ENCRYPTION_KEYS=KEYS,
            PARTITIONS={**PARTITIONS, "foo": {"PREFIX": "foo", "NEAR_CACHE": {}}},
        )
    )
    class RedisPartitionedDjangoSuite(SpotifyCacheSuite, TestCase):
        pass

else:

    def test_redis_django_suite_needs_redis() -> None:
        message = "Django's cache suite on Redis did not run: no redis-server and no REDIS_URL"
        if redis_server.in_ci():
            pytest.fail(message)
        pytest.skip(message)


class RedisClusterDjangoSuite(SpotifyCacheSuite, TestCase):
    """The suite on a Redis Cluster (three primaries with a replica each, started on
    first use by ``tests/redis_cluster.py``, or ``REDIS_CLUSTER_URL``): AES-GCM,
    partitions, one of them with a near-cache tracked on every primary."""

    @classmethod
    def setUpClass(cls) -> None:
        from tests import redis_cluster

        url = redis_cluster.shared()
        if url is None:
            message = (
                "Django's cache suite on Redis Cluster did not run: "
                "no redis-server/redis-cli and no REDIS_CLUSTER_URL"
            )
            if redis_server.in_ci():
                pytest.fail(message)
            pytest.skip(message)
        cls._overridden_settings = {
            "CACHES": spotify_caches(
                url,
                exclude=NO_CULL,
                CLUSTER=True,
                ENCRYPTION_KEYS=KEYS,
                PARTITIONS={**PARTITIONS, "foo": {"PREFIX": "foo", "NEAR_CACHE": {}}},
            )
        }
        super().setUpClass()
