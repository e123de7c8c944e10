"""Chaos: a primary is killed (SIGKILL) under load; its replica takes over and the
cache serves every slot again, with fail-open off (errors counted) and on (no error
reaches the caller).  A private cluster, so the other tests keep theirs."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from redis.cluster import RedisCluster as Client

from spotify_cache.backend import SpotifyCache
from spotify_cache.exceptions import StoreError
from tests import redis_cluster as harness
from tests.cluster.conftest import RAW, cluster_unavailable_reason, raw_store

THREADS = 4
#: Seconds after the replica's promotion within which every call must succeed again.
RECOVERY = 5.0
KEYS = [f"chaos:{i}" for i in range(60)]


@pytest.fixture(scope="module")
def private_cluster(redis_cluster: str) -> Iterator[harness.RedisCluster]:
    if not harness.available():  # REDIS_CLUSTER_URL names a cluster, but none can be started
        pytest.skip(cluster_unavailable_reason())
    cluster = harness.RedisCluster(node_timeout_ms=1000).start()
    yield cluster
    from spotify_cache.stores.cluster_client import identity
    from spotify_cache.stores.cluster_tracking import stop_cluster_trackers

    stop_cluster_trackers(identity([cluster.url]))  # its own; the shared cluster's stay
    cluster.stop()


@pytest.fixture
def healed(private_cluster: harness.RedisCluster) -> Iterator[harness.RedisCluster]:
    """The private cluster; afterwards a killed node rejoins (as a replica) and syncs."""
    yield private_cluster
    for node in private_cluster.nodes:
        if not node.alive():
            private_cluster.restart(node)
    private_cluster.wait_replicas_synced()


@dataclass
class Log:
    """What the threads saw: (time, ok) per call, and the errors by type."""

    calls: list[tuple[float, bool]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, ok: bool, error: BaseException | None = None) -> None:
        with self.lock:
            self.calls.append((time.monotonic(), ok))
            if error is not None:
                name = type(error).__name__
                self.errors[name] = self.errors.get(name, 0) + 1


def _hammer(cache: SpotifyCache, log: Log, stop: threading.Event, seed: int) -> None:
    rng, mine = random.Random(seed), KEYS[seed::THREADS]  # keys of its own: no races
    while not stop.is_set():
        key, value = rng.choice(mine), rng.random()
        try:
            cache.set(key, value, 60, tags=["chaos"])
            ok = cache.get(key) == value
            log.record(ok)
        except StoreError as exc:  # counted by type: only StoreUnavailable is expected
            log.record(False, exc)
            time.sleep(0.005)


def _promoted(cluster: harness.RedisCluster, victim: harness.ClusterNode, timeout: float) -> float:
    """When a replica of ``victim`` became a primary (three live primaries again)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if len(cluster.primaries()) == 3 and victim not in cluster.primaries():
                return time.monotonic()
        except Exception:  # a node busy electing may not answer at once
            pass
        time.sleep(0.02)
    raise AssertionError(f"no replica took over within {timeout} s")


def _until_steady(log: Log, deadline: float, window: float = 1.0) -> None:
    """Until the last ``window`` seconds of calls all succeeded (or ``deadline``)."""
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = time.monotonic()
        with log.lock:
            recent = [ok for t, ok in log.calls if t >= now - window]
        if len(recent) > 50 and all(recent):
            return


def _resumed(cache: SpotifyCache, raw: Client, deadline: float) -> bool:
    """Whether a write through the cache reaches the cluster again before ``deadline``."""
    while time.monotonic() < deadline:
        cache.set("resumed", time.monotonic(), 60)
        if raw.get(cache.make_key("resumed")) is not None:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("fail_open", [False, True], ids=["raw", "fail-open"])
def test_service_resumes_after_a_primary_is_killed(
    healed: harness.RedisCluster, fail_open: bool, record_property
) -> None:
    cluster = healed
    options = {"CLUSTER": True, "FAIL_OPEN": fail_open, "PARTITIONS": {}}
    cache = SpotifyCache(cluster.url, {"KEY_PREFIX": f"chaos{fail_open:d}", "OPTIONS": options})
    assert (raw_store(cache.store) is not cache.store) is fail_open
    cache.set_many(dict.fromkeys(KEYS, 0.0), 60)
    raw = Client.from_url(cluster.url)
    victim_name = raw.get_node_from_key(cache.make_key(KEYS[0])).name
    victim = next(n for n in cluster.nodes if n.address == victim_name)

    log, stop = Log(), threading.Event()
    threads = [
        threading.Thread(target=_hammer, args=(cache, log, stop, seed)) for seed in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # steady state first
    killed = time.monotonic()
    victim.kill()
    promoted = _promoted(cluster, victim, timeout=15)
    _until_steady(log, deadline=promoted + RECOVERY)
    stop.set()
    for thread in threads:
        thread.join(10)

    failures = [t for t, ok in log.calls if not ok]
    last_failure = max(failures, default=killed)
    during = sum(1 for t, _ in log.calls if killed <= t <= last_failure)
    record_property("promotion_s", round(promoted - killed, 2))
    record_property("recovered_after_promotion_s", round(max(0.0, last_failure - promoted), 2))
    record_property("calls_during_outage", during)
    record_property("errors_during_outage", dict(log.errors))
    print(
        f"killed {victim_name}: replica promoted after {promoted - killed:.2f} s, last failure "
        f"{last_failure - promoted:+.2f} s after promotion; {len(failures)} failed calls of "
        f"{len(log.calls)} ({dict(log.errors)})"
    )
    # Calls on the surviving shards and, once promoted, on the killed one succeed again:
    if not fail_open:  # with fail-open a "failure" is a rare read-after-write mismatch,
        # which may be the last call recorded as the threads stop: errors are checked below
        assert last_failure <= promoted + RECOVERY
        assert sum(1 for t, ok in log.calls if ok and t > last_failure) > 50
    assert _resumed(cache, raw, deadline=promoted + RECOVERY)
    if fail_open:  # the outage was misses (or this process's own writes), never an error
        assert log.errors == {}
    else:  # counted, not forbidden: StoreUnavailable while the shard has no primary
        assert set(log.errors) <= {"StoreUnavailable"}

    # The version records' tracking follows the new primary (every primary tracked again).
    versions = cache._router.versions
    tracker = getattr(versions, "tracker", None)
    assert tracker is not None and tracker.wait_ready(RECOVERY)
    assert victim_name not in tracker._nodes
    cache.invalidate_tags("chaos")
    assert cache.get_many(KEYS) == {}
    raw.close()


def test_clear_flushdb_empties_every_primary(private_cluster: harness.RedisCluster) -> None:
    """On the private cluster: FLUSHDB on every primary would also take the shared
    cluster's keys of other tests."""
    options = {"CLUSTER": True, **RAW, "CLEAR": "flushdb"}
    cache = SpotifyCache(private_cluster.url, {"KEY_PREFIX": "flush", "OPTIONS": options})
    raw = Client.from_url(private_cluster.url)
    raw.set("someone-else", b"x")
    cache.set_many(dict.fromkeys(KEYS, 1))
    cache.clear()
    assert cache.get_many(KEYS) == {}
    assert raw.dbsize() == 0  # every primary, whoever wrote the key
    raw.close()
