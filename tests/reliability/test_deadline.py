"""One call against a hung Redis costs at most SOCKET_TIMEOUT x (1 + RETRIES).

The server here accepts connections and never replies, so connection set-up
(its handshake), the command and every retry each wait a full socket timeout.
Before the call had a deadline, redis-py's command retry and connection retry
multiplied: with the default RETRIES=1 one call took four socket timeouts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from spotify_cache.exceptions import StoreUnavailable
from spotify_cache.stores import redis_versions  # noqa: F401 - imported lazily on a first call
from tests.helpers import make_cache
from tests.reliability.support import raising

#: Scheduling, an event loop's start and shutdown (async calls run in ``asyncio.run``)
#: and the last backoff, on a busy machine; well below what the old code took.
SLACK = 0.1


def elapsed(call: Callable[[], Any]) -> float:
    """Seconds ``call`` took to fail with ``StoreUnavailable``."""
    start = time.monotonic()
    with pytest.raises(StoreUnavailable):
        call()
    return time.monotonic() - start


def calls(cache: Any) -> dict[str, Callable[[], Any]]:
    return {
        "get": lambda: cache.get("k"),
        "set": lambda: cache.set("k", "v"),
        "get_many": lambda: cache.get_many(["a", "b"]),
        "incr": lambda: cache.incr("n"),
        "aget": lambda: asyncio.run(cache.aget("k")),
        "aset": lambda: asyncio.run(cache.aset("k", "v")),
    }


def test_with_the_defaults_a_call_fails_within_half_a_second(mute_server) -> None:
    cache = make_cache(mute_server.url, **raising(KEY_PREFIX="hung"))  # 0.25 s x (1 + 1 retry)
    for name, call in calls(cache).items():
        took = elapsed(call)
        assert 0.45 <= took <= 0.5 + SLACK, f"{name} took {took:.3f} s"


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_the_bound_scales_with_retries(mute_server, retries: int) -> None:
    options = raising(KEY_PREFIX=f"hung{retries}", SOCKET_TIMEOUT=0.1, RETRIES=retries)
    cache = make_cache(mute_server.url, **options)
    budget = 0.1 * (1 + retries)
    for name in ("get", "set", "aget"):
        took = elapsed(calls(cache)[name])
        assert budget - 0.02 <= took <= budget + SLACK, f"{name} took {took:.3f} s"


def test_version_records_share_the_bound(mute_server) -> None:
    cache = make_cache(
        mute_server.url, **raising(KEY_PREFIX="hungp", PARTITIONS={}, SOCKET_TIMEOUT=0.1)
    )
    for name in ("get", "set", "aset"):
        took = elapsed(calls(cache)[name])
        assert took <= 0.2 + SLACK, f"{name} took {took:.3f} s"


def test_a_raw_client_command_has_the_bound_too(mute_server) -> None:
    client = make_cache(mute_server.url, **raising(KEY_PREFIX="hungr", SOCKET_TIMEOUT=0.1))
    client = client.get_client()
    start = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 - redis-py's own TimeoutError, unwrapped
        client.get("k")
    assert time.monotonic() - start <= 0.2 + SLACK
