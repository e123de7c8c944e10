"""Test fixtures: a real redis-server for the session, settings per configuration."""

from __future__ import annotations

import os

import pytest

from tests import redis_server

_server: redis_server.RedisServer | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Start a private redis-server unless ``REDIS_URL`` names one (before collection,
    because the conformance classes read the URL when they are defined)."""
    global _server
    if os.environ.get("REDIS_URL") or not redis_server.available():
        return
    _server = redis_server.RedisServer().start()
    os.environ["REDIS_URL"] = _server.url
    os.environ["SPOTIFY_CACHE_TEST_OWN_REDIS"] = "1"


def pytest_unconfigure(config: pytest.Config) -> None:
    from spotify_cache.stores.tracking import stop_trackers

    stop_trackers()  # before the server goes: they would report the lost connection
    if _server is not None:
        _server.stop()


def redis_unavailable_reason() -> str:
    return "no Redis: install redis-server or set REDIS_URL"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a real Redis; fails under CI when none can be had, skips otherwise."""
    url = os.environ.get("REDIS_URL")
    if not url:
        if redis_server.in_ci():
            pytest.fail(redis_unavailable_reason())
        pytest.skip(redis_unavailable_reason())
    return url


@pytest.fixture
def redis_client(redis_url: str):
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
