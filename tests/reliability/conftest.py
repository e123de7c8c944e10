"""Fixtures for the reliability tests: a server that never answers, private servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import redis_server
from tests.reliability.support import Mute, need_redis_server


@pytest.fixture
def mute_server() -> Iterator[Mute]:
    server = Mute()
    yield server
    server.close()


@pytest.fixture
def private_redis() -> Iterator[redis_server.RedisServer]:
    """A redis-server of the test's own (its client counts are the test's alone)."""
    need_redis_server()
    with redis_server.RedisServer() as server:
        yield server
