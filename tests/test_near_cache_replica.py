"""The near-cache with read replicas: a lagging replica never refills it with stale data."""

from __future__ import annotations

import time

import pytest

from tests import redis_server
from tests.helpers import make_cache


@pytest.fixture
def primary_and_replica():
    if not redis_server.available():
        pytest.skip("no redis-server")
    with redis_server.RedisServer("--repl-diskless-sync-delay", "0") as primary:
        replica = redis_server.RedisServer(
            "--replicaof", "127.0.0.1", str(primary.port), "--repl-diskless-sync-delay", "0"
        )
        with replica:
            client = replica.client()
            deadline = time.monotonic() + 15
            while client.info("replication").get("master_link_status") != "up":
                assert time.monotonic() < deadline, "the replica never synced"
                time.sleep(0.02)
            yield primary, replica


def test_an_overwrite_is_seen_although_the_replica_lags(primary_and_replica) -> None:
    primary, replica = primary_and_replica
    cache = make_cache(
        [primary.url, replica.url], KEY_PREFIX="rep", NEAR_CACHE={"MAX_ENTRIES": 10, "TTL": 60}
    )
    cache.store.tracker.wait_ready(5)
    writer = make_cache(primary.url, KEY_PREFIX="rep")
    cache.set("k", "v1")
    time.sleep(0.1)
    assert cache.get("k") == "v1"
    replica.client().execute_command("CLIENT", "PAUSE", "3000", "WRITE")  # the replica lags
    writer.set("k", "v2")
    deadline = time.monotonic() + 1.0
    while cache.get("k") != "v2":
        assert time.monotonic() < deadline, "served the replica's stale copy"
        time.sleep(0.01)
    for _ in range(20):  # and it stays fresh: no refill from the lagging replica
        assert cache.get("k") == "v2"
        time.sleep(0.01)
