"""The backend on a real Redis: round trips, atomic counters, extras, replicas, pools."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import pytest
import redis

from spotify_cache.backend import SpotifyCache
from spotify_cache.codecs.sealing import generate_key
from spotify_cache.exceptions import StoreError, StoreUnavailable
from spotify_cache.stores import redis_pool
from tests.helpers import make_cache
from tests.redis_server import RedisServer

KEYS = [generate_key()]


@pytest.fixture
def cache(redis_url: str):
    made = make_cache(redis_url, KEY_PREFIX=f"rb{os.urandom(3).hex()}", ENCRYPTION_KEYS=KEYS)
    yield made
    made.clear()


def command_calls(client: redis.Redis, name: str) -> int:
    stats = client.info("commandstats").get(f"cmdstat_{name}")
    return int(stats["calls"]) if stats else 0


def test_get_many_is_one_round_trip(cache, redis_client) -> None:
    cache.set_many({f"k{i}": i for i in range(100)})
    mget, get = command_calls(redis_client, "mget"), command_calls(redis_client, "get")
    found = cache.get_many([f"k{i}" for i in range(100)])
    assert found == {f"k{i}": i for i in range(100)}
    assert command_calls(redis_client, "mget") == mget + 1
    assert command_calls(redis_client, "get") == get


def test_clear_keeps_other_caches_and_foreign_keys(cache, redis_url, redis_client) -> None:
    other = make_cache(redis_url, KEY_PREFIX=cache.key_prefix + "x")
    cache.set("a", 1)
    other.set("a", 2)
    redis_client.set("foreign:key", b"keep")
    cache.clear()
    assert cache.get("a") is None
    assert other.get("a") == 2
    assert redis_client.get("foreign:key") == b"keep"
    other.clear()
    redis_client.delete("foreign:key")


class PipeKeys(SpotifyCache):
    """A subclass with its own key format, as django-redis users write them."""

    def make_key(self, key, version=None) -> str:
        return f"app|{self.key_prefix}|{self.version if version is None else version}|{key}"


def test_a_subclass_make_key_names_every_stored_key(redis_url, redis_client) -> None:
    cache = PipeKeys(redis_url, {"KEY_PREFIX": "pipe"})
    cache.set("a", 1)
    cache.set_many({"b": 2, "c": 3}, version=2)
    assert redis_client.exists("app|pipe|1|a", "app|pipe|2|b", "app|pipe|2|c") == 3
    assert cache.get("a") == 1 and cache.get_many(["b", "c"], version=2) == {"b": 2, "c": 3}
    redis_client.set("app|other|1|a", b"keep")
    cache.clear()  # its namespace comes from the override too
    assert redis_client.exists("app|pipe|1|a", "app|pipe|2|b") == 0
    assert redis_client.get("app|other|1|a") == b"keep"
    redis_client.delete("app|other|1|a")


def test_incr_keeps_ttl_and_fails_on_missing(cache) -> None:
    cache.set("n", 1, timeout=100)
    assert cache.incr("n", 5) == 6
    assert cache.decr("n", 2) == 4
    assert 90 < cache.ttl("n") <= 100
    with pytest.raises(ValueError):
        cache.incr("absent")
    assert cache.get("absent") is None


def test_incr_is_atomic_across_threads(cache) -> None:
    cache.set("n", 0, None)

    def bump() -> None:
        for _ in range(50):
            cache.incr("n")

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.get("n") == 200


def test_threads_sharing_the_pool_each_read_their_own_replies(cache) -> None:
    errors: list[str] = []

    def own_values(thread: int) -> None:
        for n in range(200):
            cache.set(f"t{thread}", (thread, n))
            cache.set_many({f"t{thread}:a": n, f"t{thread}:b": -n})
            got = (cache.get(f"t{thread}"), cache.get_many([f"t{thread}:a", f"t{thread}:b"]))
            if got != ((thread, n), {f"t{thread}:a": n, f"t{thread}:b": -n}):
                errors.append(f"thread {thread} step {n} read {got!r}")
            cache.delete(f"t{thread}:b")

    threads = [threading.Thread(target=own_values, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cache.rejections == {}


def _bump_in_process(url: str, prefix: str, keys: list[str], count: int) -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(SECRET_KEY="test-secret-key-not-for-production")
        django.setup()
    made = make_cache(url, KEY_PREFIX=prefix, ENCRYPTION_KEYS=keys)
    for _ in range(count):
        made.incr("n")


def test_incr_is_atomic_across_processes(cache, redis_url) -> None:
    cache.set("n", 0, None)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_bump_in_process, args=(redis_url, cache.key_prefix, KEYS, 100))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert cache.get("n") == 200


def test_ttl_expire_persist(cache) -> None:
    cache.set("k", "v", timeout=None)
    assert cache.ttl("k") is None
    assert cache.expire("k", 30) is True
    assert 25 < cache.ttl("k") <= 30
    assert cache.persist("k") is True
    assert cache.ttl("k") is None
    assert cache.ttl("absent") == 0
    assert cache.expire("absent", 10) is False


def test_iter_keys_and_delete_pattern(cache) -> None:
    cache.set_many({"user:1": 1, "user:2": 2, "track:1": 3})
    assert sorted(cache.iter_keys("user:*")) == ["user:1", "user:2"]
    assert cache.delete_pattern("user:*") == 2
    assert cache.get_many(["user:1", "user:2", "track:1"]) == {"track:1": 3}


def test_lock_excludes_a_second_holder(cache) -> None:
    first = cache.lock("report", timeout=5)
    second = cache.lock("report", timeout=5)
    assert first.acquire(blocking=False) is True
    assert second.acquire(blocking=False) is False
    first.release()
    assert second.acquire(blocking=False) is True
    second.release()


def test_raw_client_is_redis(cache) -> None:
    client = cache.get_client()
    assert isinstance(client, redis.Redis)
    assert client.ping() is True


def test_one_pool_per_process_per_configuration(redis_url) -> None:
    a = make_cache(redis_url, KEY_PREFIX="p1")
    b = make_cache(redis_url, KEY_PREFIX="p2")  # another backend instance, as another thread gets
    assert a.get_client().connection_pool is b.get_client().connection_pool
    c = make_cache(redis_url, KEY_PREFIX="p1", SOCKET_TIMEOUT=0.5)
    assert c.get_client().connection_pool is not a.get_client().connection_pool


def test_safe_timeouts_by_default(redis_url) -> None:
    kwargs = make_cache(redis_url).get_client().connection_pool.connection_kwargs
    assert 0.1 <= kwargs["socket_timeout"] <= 0.25
    assert 0.1 <= kwargs["socket_connect_timeout"] <= 0.25
    assert kwargs["retry"].get_retries() <= 2


def test_hung_server_raises_store_unavailable() -> None:
    with RedisServer() as server:
        hung = make_cache(server.url, KEY_PREFIX="hung", FAIL_OPEN=False)
        hung.set("k", "v")
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            with pytest.raises(StoreUnavailable) as info:
                hung.get("k")
            assert isinstance(info.value.__cause__, redis.RedisError)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)


def received_connections(server: RedisServer) -> int:
    return int(server.client().info("stats")["total_connections_received"])


def test_a_timed_out_write_is_retried_on_a_new_connection() -> None:
    with RedisServer() as server:
        cache = make_cache(server.url, KEY_PREFIX="retry", SOCKET_TIMEOUT=0.25, RETRIES=1)
        cache.set("k", "old")
        before = received_connections(server)
        server.client().client_pause(400, all=False)  # writes wait 0.4 s: the first try times out
        cache.set("k", "new")
        assert cache.get("k") == "new"
        assert received_connections(server) > before  # the timed-out connection was dropped


def test_without_retries_a_timeout_raises_and_leaves_no_stale_reply() -> None:
    with RedisServer() as server:
        cache = make_cache(
            server.url, KEY_PREFIX="noretry", SOCKET_TIMEOUT=0.25, RETRIES=0, FAIL_OPEN=False
        )
        cache.set("other", "value of other")
        server.client().client_pause(400, all=False)
        with pytest.raises(StoreUnavailable):
            cache.set("k", "v")
        time.sleep(0.3)  # the pause is over; a kept connection would now hold SET's late "OK"
        assert cache.get("other") == "value of other"
        assert cache.rejections == {}


def test_dead_server_raises_store_unavailable() -> None:
    server = RedisServer().start()
    dead = make_cache(server.url, KEY_PREFIX="dead", FAIL_OPEN=False)
    server.kill()
    server.stop()
    with pytest.raises(StoreUnavailable):
        dead.get("k")
    with pytest.raises(StoreError):
        dead.set("k", "v")


def wait_for_link(client: redis.Redis) -> None:
    for _ in range(200):
        if client.info("replication").get("master_link_status") == "up":
            return
        time.sleep(0.05)
    raise AssertionError("replica never linked to its primary")


def test_reads_go_to_replicas_and_writes_to_the_primary() -> None:
    with RedisServer() as primary, RedisServer("--replicaof", "127.0.0.1", "0") as replica:
        replica.client().replicaof("127.0.0.1", primary.port)
        wait_for_link(replica.client())
        cache = make_cache([primary.url, replica.url], KEY_PREFIX="rep")
        cache.set("k", "v")
        primary.client().wait(1, 2000)
        replica_gets, primary_gets = (command_calls(s.client(), "get") for s in (replica, primary))
        assert cache.get("k") == "v"
        assert command_calls(replica.client(), "get") == replica_gets + 1
        assert command_calls(primary.client(), "get") == primary_gets
        assert command_calls(primary.client(), "set") == 1
        cache.set("n", 1)  # not waited for: incr must read the primary, not the lagging replica
        assert cache.incr("n") == 2


def test_clear_flushdb_only_when_asked(redis_url) -> None:
    with RedisServer() as server:
        server.client().set("foreign", b"1")
        make_cache(server.url).clear()
        assert server.client().get("foreign") == b"1"
        make_cache(server.url, CLEAR="flushdb").clear()
        assert server.client().get("foreign") is None


def test_pools_are_rebuilt_after_fork(redis_url) -> None:
    cache = make_cache(redis_url, KEY_PREFIX="fork")
    cache.set("k", "parent")
    parent_pool = cache.get_client().connection_pool
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: a fresh backend must not reuse the parent's pool
        child = make_cache(redis_url, KEY_PREFIX="fork")
        ok = child.get("k") == "parent" and child.get_client().connection_pool is not parent_pool
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    redis_pool.reset_pools()
