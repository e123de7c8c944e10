"""Fail-open (``stores/failover.py``): the breaker's states on an injected clock,
reads and writes while Redis is down or hung, the replay that keeps an older
value from reappearing after recovery, the log's overflow, ``FAIL_OPEN: False``,
option checks and the async twins.

Redis is a real ``redis-server`` of the test's own, stopped with SIGSTOP (hung:
it keeps its data, so an older value is there to reappear) or SIGKILL (dead,
refusing connections).  The breaker's clock is injected, so no test sleeps
for a probe interval.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from spotify_cache.backend import SpotifyCache
from spotify_cache.codecs.framing import TOMBSTONE
from spotify_cache.exceptions import StoreUnavailable
from spotify_cache.signals import circuit_changed
from spotify_cache.stores import replay, tracking
from spotify_cache.stores.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    PROBE,
    REMOTE,
    SKIP,
    Breaker,
)
from spotify_cache.stores.failover import FailoverStore, build_failover
from spotify_cache.stores.memory import MemoryStore
from spotify_cache.stores.redis import RedisStore
from tests import redis_server
from tests.helpers import Collector
from tests.redis_server import RedisServer

#: Short timeouts: a failed call costs 50 ms, not the defaults' half second.
FAST = {"SOCKET_TIMEOUT": 0.05, "SOCKET_CONNECT_TIMEOUT": 0.05, "RETRIES": 0}
PROBE_INTERVAL = 1.0


class Clock:
    """The breaker's (and the fallback's) clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server() -> Iterator[RedisServer]:
    if not redis_server.available():
        if redis_server.in_ci():
            pytest.fail("redis-server is needed")
        pytest.skip("redis-server is needed")
    started = RedisServer().start()
    yield started
    resume(started)
    started.stop()
    stop_trackers_of(started.url)


def stop_trackers_of(url: str) -> None:
    """Stop the tracking threads of this test's server (the session's stay)."""
    with tracking._trackers_lock:
        mine = [ident for ident in tracking._trackers if ident[1] == url]
        stopped = [tracking._trackers.pop(ident) for ident in mine]
    for tracker in stopped:
        tracker.stop()


def hang(server: RedisServer) -> None:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)


def resume(server: RedisServer) -> None:
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)


def restart(server: RedisServer) -> RedisServer:
    """A new redis-server on the port of a killed one."""
    return RedisServer(port=server.port).start()


def build(location: str, clock: Clock, **options: Any) -> SpotifyCache:
    breaker = {"TIMER": clock, "PROBE_INTERVAL": PROBE_INTERVAL, **options.pop("BREAKER", {})}
    opts = {**FAST, "BREAKER": breaker, **options}
    return SpotifyCache(location, {"KEY_PREFIX": f"fo{uuid.uuid4().hex[:8]}", "OPTIONS": opts})


def state(cache: SpotifyCache) -> str:
    store = cache.store
    assert isinstance(store, FailoverStore)
    return store.state


# -- the breaker alone -----------------------------------------------------------------------
def test_reads_open_the_breaker_after_failures_within_the_window(clock: Clock) -> None:
    breaker = Breaker(failures=3, window=10.0, probe_interval=1.0, clock=clock)
    assert breaker.failure("StoreUnavailable") is None
    clock.advance(11)  # the first failure leaves the window
    assert breaker.failure("StoreUnavailable") is None
    assert breaker.failure("StoreUnavailable") is None
    assert breaker.state == CLOSED
    change = breaker.failure("StoreUnavailable")
    assert change == (CLOSED, OPEN, "StoreUnavailable")
    assert breaker.state == OPEN
    assert breaker.failure("StoreUnavailable") is None  # already open: no second change


def test_a_failed_write_opens_at_once(clock: Clock) -> None:
    breaker = Breaker(failures=5, clock=clock)
    assert breaker.failure("StoreUnavailable", at_once=True) == (CLOSED, OPEN, "StoreUnavailable")


def test_open_half_open_closed(clock: Clock) -> None:
    breaker = Breaker(probe_interval=1.0, clock=clock)
    assert breaker.admit() == (REMOTE, None)
    breaker.failure("StoreUnavailable")
    assert breaker.admit() == (SKIP, None)
    clock.advance(0.999)
    assert breaker.admit() == (SKIP, None)
    clock.advance(0.001)
    assert breaker.admit() == (PROBE, (OPEN, HALF_OPEN, "probe interval elapsed"))
    assert breaker.admit() == (SKIP, None)  # one probe at a time
    assert breaker.failure("late", at_once=True) is None  # a call from before: not the probe's
    assert breaker.state == HALF_OPEN
    assert breaker.success() == (HALF_OPEN, CLOSED, "probe succeeded")
    assert breaker.admit() == (REMOTE, None)


def test_a_failed_probe_opens_for_another_interval(clock: Clock) -> None:
    breaker = Breaker(probe_interval=1.0, clock=clock)
    breaker.failure("StoreUnavailable")
    clock.advance(1)
    assert breaker.admit()[0] == PROBE
    clock.advance(0.5)
    failed = breaker.failure("StoreUnavailable (TimeoutError)", probe=True)
    assert failed == (HALF_OPEN, OPEN, "probe failed: StoreUnavailable (TimeoutError)")
    clock.advance(0.9)
    assert breaker.admit()[0] == SKIP  # the interval counts from the failed probe
    clock.advance(0.1)
    assert breaker.admit()[0] == PROBE
    assert breaker.abandon() == (HALF_OPEN, OPEN, "probe abandoned")


# -- fail-open on the backend ---------------------------------------------------------------
def test_reads_and_writes_fail_open_while_redis_is_dead(server: RedisServer, clock: Clock) -> None:
    cache = build(server.url, clock)
    cache.set("a", 1)
    server.kill()
    assert cache.get("a") is None  # a miss, not an error
    assert state(cache) == OPEN
    cache.set("b", 2)
    assert cache.get("b") == 2  # the fallback's copy of what this process wrote
    assert cache.add("c", 3) and cache.incr("c") == 4
    assert cache.get_or_set("d", lambda: 5) == 5 and cache.get("d") == 5
    assert cache.get_many(["b", "c", "d", "a"]) == {"b": 2, "c": 4, "d": 5}
    cache.delete("b")
    assert cache.get("b") is None and not cache.has_key("b")
    cache.set_many({"e": 6, "f": 7})
    cache.delete_many(["e"])
    assert cache.get_many(["e", "f"]) == {"f": 7}
    assert cache.invalidate("f") == 1 and cache.get("f") is None
    cache.invalidate_tags("t")
    cache.clear()
    assert cache.get("c") is None


def test_the_fallback_caps_ttls_and_none_keeps_nothing(server: RedisServer, clock: Clock) -> None:
    capped = build(server.url, clock, FALLBACK={"MAX_ENTRIES": 10, "TTL": 30})
    nothing = build(server.url, clock, FALLBACK=None)
    server.kill()
    capped.set("long", 1, timeout=3600)
    nothing.set("long", 1, timeout=3600)
    assert capped.get("long") == 1
    assert nothing.get("long") is None
    clock.advance(29.9)
    assert capped.get("long") == 1
    clock.advance(0.2)
    assert capped.get("long") is None


def test_values_written_with_tags_during_the_outage_read_back(
    server: RedisServer, clock: Clock
) -> None:
    cache = build(server.url, clock, PARTITIONS={"users": {"PREFIX": "user:"}})
    server.kill()
    cache.set("user:1", "tagged", tags=["t"])
    assert cache.get("user:1") == "tagged"  # stamped with tokens of the outage's own records
    cache.invalidate_tags("t")
    assert cache.get("user:1") is None
    cache.set("user:2", "in partition")
    cache.invalidate_partition("users")
    assert cache.get("user:2") is None


def test_an_open_circuit_skips_a_hung_redis(server: RedisServer, clock: Clock) -> None:
    cache = build(server.url, clock, SOCKET_TIMEOUT=0.2, SOCKET_CONNECT_TIMEOUT=0.2)
    cache.set("k", "v")
    hang(server)
    try:
        first = timed(lambda: cache.get("k"))
        rest = timed(lambda: [cache.get("k") for _ in range(200)])
        clock.advance(PROBE_INTERVAL)
        probe = timed(lambda: cache.get("k"))
        after = timed(lambda: [cache.get("k") for _ in range(200)])
    finally:
        resume(server)
    assert first >= 0.15 and probe >= 0.15  # one timeout each: the first call, the probe
    assert rest < 0.1 and after < 0.1  # 200 calls in between never wait on the socket


def timed(call: Any) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def test_more_failures_may_be_allowed_for_reads_but_not_for_writes(
    server: RedisServer, clock: Clock
) -> None:
    cache = build(server.url, clock, BREAKER={"FAILURES": 3, "WINDOW": 10})
    server.kill()
    cache.get("a")
    cache.get("a")
    assert state(cache) == CLOSED
    cache.get("a")
    assert state(cache) == OPEN
    other = build(server.url, clock, BREAKER={"FAILURES": 3, "WINDOW": 10})
    other.set("a", 1)  # the write may not have reached Redis: replay it
    assert state(other) == OPEN


def test_state_changes_are_signalled_and_logged_once_each(
    server: RedisServer, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    server.client().config_set("requirepass", "s3cret-pw")
    location = f"redis://:s3cret-pw@127.0.0.1:{server.port}/0"
    cache = build(location, clock)
    cache.set("k", "v")
    caplog.set_level(logging.DEBUG, logger="spotify_cache.reliability")
    with Collector(circuit_changed) as seen:
        server.kill()
        for _ in range(20):
            assert cache.get("k") is None
        clock.advance(PROBE_INTERVAL)
        for _ in range(20):
            cache.get("k")  # the first probes, fails, and the rest skip Redis again
        back = restart(server)
        try:
            back.client().config_set("requirepass", "s3cret-pw")
            clock.advance(PROBE_INTERVAL)
            for _ in range(20):
                cache.get("k")
        finally:
            back.stop()
    moves = [(c["old"], c["new"]) for c in seen.calls]
    assert moves == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]
    first = seen.calls[0]
    assert first["location"] == f"redis://127.0.0.1:{server.port}/0"
    assert first["store"] == "RedisStore" and first["namespace"].startswith(cache.key_prefix)
    assert first["reason"].startswith("StoreUnavailable")
    records = [r for r in caplog.records if r.name == "spotify_cache.reliability"]
    assert len(records) == len(moves)
    assert records[0].levelname == "WARNING"
    assert records[-1].levelname == "INFO"
    text = " ".join(r.getMessage() for r in records) + repr(seen.calls)
    assert "s3cret" not in text and "'v'" not in text


# -- replay after recovery -------------------------------------------------------------------
def test_changes_made_during_the_outage_win_over_older_values_in_redis(
    server: RedisServer, clock: Clock
) -> None:
    cache = build(server.url, clock, PARTITIONS={"users": {"PREFIX": "user:"}})
    raw = server.client()
    cache.set("gone", "old")
    cache.set("marked", "old")
    cache.set("tagged", "old", tags=["t"])
    cache.set("user:1", "old")
    cache.set("kept", "v")
    hang(server)
    try:
        assert cache.get("kept") is None  # times out: the circuit opens
        assert state(cache) == OPEN
        cache.delete("gone")  # none of these reach Redis: they are logged
        cache.invalidate("marked")
        cache.invalidate_tags("t")
        cache.invalidate_partition("users")
        cache.set("written", "new")
        assert cache.get("written") == "new"
    finally:
        resume(server)
    assert raw.get(cache.make_key("gone")) is not None  # Redis still holds the older value
    clock.advance(PROBE_INTERVAL)
    assert cache.get("gone") is None  # the probe replays the log before reading
    assert state(cache) == CLOSED
    assert cache.get("marked") is None
    assert cache.get("tagged") is None
    assert cache.get("user:1") is None
    assert cache.get("written") is None  # the fallback went with the outage
    assert cache.get("kept") == "v"
    assert raw.get(cache.make_key("gone")).startswith(TOMBSTONE)
    cache.set("written", "after")
    assert cache.get("written") == "after" and raw.exists(cache.make_key("written"))


def test_a_write_that_timed_out_is_replayed(server: RedisServer, clock: Clock) -> None:
    """A SET that timed out may still run when the server resumes: the replay's
    marker comes after it."""
    cache = build(server.url, clock)
    cache.set("k", "old")
    hang(server)
    try:
        cache.set("k", "new")  # times out; sent, so it runs on SIGCONT
    finally:
        resume(server)
    clock.advance(PROBE_INTERVAL)
    assert cache.get("k") is None
    assert server.client().get(cache.make_key("k")).startswith(TOMBSTONE)


def test_an_overflowing_log_clears_the_namespace_on_recovery(
    server: RedisServer, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    cache = build(server.url, clock, REPLAY_LIMIT=2)
    other = build(server.url, clock)
    cache.set_many({"a": 1, "b": 2, "c": 3, "untouched": 4})
    other.set("x", "other cache")
    caplog.set_level(logging.WARNING, logger="spotify_cache.reliability")
    hang(server)
    try:
        cache.get("a")
        for key in ("a", "b", "c", "d"):
            cache.delete(key)
    finally:
        resume(server)
    overflows = [r for r in caplog.records if "overflowed" in r.getMessage()]
    assert len(overflows) == 1
    clock.advance(PROBE_INTERVAL)
    assert cache.get("untouched") is None  # cleared with the rest of the namespace
    assert state(cache) == CLOSED
    assert other.get("x") == "other cache"
    assert not list(server.client().scan_iter(match=f"{cache.key_prefix}:*"))


def test_each_outage_starts_with_an_empty_fallback(server: RedisServer, clock: Clock) -> None:
    cache = build(server.url, clock)
    server.kill()
    cache.set("w", "first outage")
    back = restart(server)
    try:
        clock.advance(PROBE_INTERVAL)
        assert cache.get("w") is None and state(cache) == CLOSED
        cache.set("w", "between outages")
        back.kill()
        assert cache.get("w") is None  # not the first outage's copy, now stale
    finally:
        back.stop()


def test_a_probe_read_racing_a_write_answers_from_the_fallback(clock: Clock) -> None:
    """A write logged while the probe reads may not have reached the remote yet:
    the probe's read answers from the fallback, and the write is replayed."""
    remote = MemoryStore("", {}, timer=clock)
    failover = build_failover(remote, {"BREAKER": {"TIMER": clock}})
    remote.set("k", b"old", None)
    failover.failed(StoreUnavailable("down"), None)
    clock.advance(1)

    def write_elsewhere() -> None:  # another thread writes while the breaker is half-open
        failover.call(
            lambda: remote.set("k", b"new", None),
            lambda o: o.fallback.set("k", b"new", None),
            replay.keys("k"),
        )

    def read_with_a_write_in_between() -> bytes | None:
        writer = threading.Thread(target=write_elsewhere)
        writer.start()
        writer.join()
        return remote.get("k")

    found = failover.call(read_with_a_write_in_between, lambda o: o.fallback.get("k"), None)
    assert found == b"new"  # not the remote's b"old"
    assert failover.breaker.state == CLOSED
    assert remote.get("k").startswith(TOMBSTONE)


class Busy(MemoryStore):
    """A remote on which every replayed batch meets a new write from another thread."""

    failover: Any = None

    def set_many(self, items: Any, ttl: Any) -> None:
        super().set_many(items, ttl)
        key = f"w{len(self)}"
        write = threading.Thread(
            target=self.failover.call,
            args=(lambda: None, lambda o: o.fallback.set(key, b"v", None), replay.keys(key)),
        )
        write.start()
        write.join()


def test_a_probe_that_cannot_catch_up_with_the_writes_opens_again(clock: Clock) -> None:
    remote = Busy("", {"MAX_ENTRIES": 1000}, timer=clock)
    failover = remote.failover = build_failover(remote, {"BREAKER": {"TIMER": clock}})
    with Collector(circuit_changed) as seen:
        failover.failed(StoreUnavailable("down"), replay.keys("k"))
        clock.advance(1)
        assert failover.call(lambda: b"remote", lambda o: b"fallback", None) == b"fallback"
    assert failover.breaker.state == OPEN
    assert seen.calls[-1]["reason"] == "replay did not catch up"
    assert failover.log  # what came last waits for the next probe


def test_a_cancelled_async_probe_opens_the_breaker_again(clock: Clock) -> None:
    failover = build_failover(MemoryStore("", {}, timer=clock), {"BREAKER": {"TIMER": clock}})
    failover.failed(StoreUnavailable("down"), None)
    clock.advance(1)

    async def never() -> None:
        await asyncio.Event().wait()

    async def local(outage: Any) -> None:
        return None

    async def scenario() -> None:
        probe = asyncio.ensure_future(failover.acall(never, local, None))
        await asyncio.sleep(0)
        assert failover.breaker.state == HALF_OPEN
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe

    asyncio.run(scenario())
    assert failover.breaker.state == OPEN


def test_fail_open_false_raises_as_before(server: RedisServer, clock: Clock) -> None:
    cache = build(server.url, clock, FAIL_OPEN=False)
    assert type(cache.store) is RedisStore
    server.kill()
    with pytest.raises(StoreUnavailable):
        cache.get("k")
    with pytest.raises(StoreUnavailable):
        cache.set("k", "v")


def test_the_memory_store_is_not_wrapped() -> None:
    cache = SpotifyCache("memory://failover", {"OPTIONS": {"FAIL_OPEN": True}})
    assert type(cache.store) is MemoryStore


def test_every_redis_store_is_wrapped_once(server: RedisServer, clock: Clock) -> None:
    cache = build(server.url, clock, NEAR_CACHE={}, PARTITIONS={"hot": {"PREFIX": "hot:"}})
    stores = cache._router.stores
    assert all(isinstance(s, FailoverStore) for s in stores)
    assert not isinstance(stores[0].primary, FailoverStore)
    server.kill()
    cache.set("hot:1", 1)
    assert cache.get("hot:1") == 1


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"FAIL_OPEN": "yes"}, 'OPTIONS["FAIL_OPEN"]'),
        ({"FALLBACK": {"MAX_ENTRIES": 0}}, 'OPTIONS["FALLBACK"]["MAX_ENTRIES"]'),
        ({"FALLBACK": {"TTL": "30"}}, 'OPTIONS["FALLBACK"]["TTL"]'),
        ({"FALLBACK": {"SIZE": 10}}, 'OPTIONS["FALLBACK"]'),
        ({"FALLBACK": 30}, 'OPTIONS["FALLBACK"]'),
        ({"BREAKER": {"PROBE_INTERVAL": 0}}, 'OPTIONS["BREAKER"]["PROBE_INTERVAL"]'),
        ({"BREAKER": {"FAILURES": 1.5}}, 'OPTIONS["BREAKER"]["FAILURES"]'),
        ({"BREAKER": {"WINDOW": -1}}, 'OPTIONS["BREAKER"]["WINDOW"]'),
        ({"BREAKER": {"TIMER": 3}}, 'OPTIONS["BREAKER"]["TIMER"]'),
        ({"BREAKER": None}, 'OPTIONS["BREAKER"]'),
        ({"REPLAY_LIMIT": -1}, 'OPTIONS["REPLAY_LIMIT"]'),
    ],
)
def test_options_are_checked_at_start_up(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        SpotifyCache("memory://", {"OPTIONS": options})
    assert str(info.value).startswith(named)


def test_good_options_are_accepted(redis_url: str) -> None:
    options = {
        "FAIL_OPEN": True,
        "FALLBACK": {"MAX_ENTRIES": 10, "TTL": 5},
        "BREAKER": {"FAILURES": 2, "WINDOW": 5, "PROBE_INTERVAL": 0.2},
        "REPLAY_LIMIT": 0,
    }
    SpotifyCache(redis_url, {"OPTIONS": options})
    SpotifyCache(redis_url, {"OPTIONS": {"FALLBACK": None}})


# -- async ---------------------------------------------------------------------------------
def test_async_twins_fail_open_and_replay(server: RedisServer, clock: Clock) -> None:
    cache = build(server.url, clock)

    async def scenario() -> None:
        await cache.aset("gone", "old")
        await cache.aset("tagged", "old", tags=["t"])
        hang(server)
        try:
            assert await cache.aget("gone") is None  # times out: open
            assert state(cache) == OPEN
            await cache.adelete("gone")
            await cache.ainvalidate_tags("t")
            await cache.aset("written", "new")
            assert await cache.aget("written") == "new"
            assert await cache.aget_or_set("loaded", lambda: 1) == 1
        finally:
            resume(server)
        clock.advance(PROBE_INTERVAL)
        assert await cache.aget("gone") is None  # the async probe replays first
        assert state(cache) == CLOSED
        assert await cache.aget("tagged") is None
        assert await cache.aget("written") is None
        await cache.aset("written", "after")
        assert await cache.aget("written") == "after"

    asyncio.run(scenario())
