"""One contract, run against every store: bytes in, bytes out, TTL rules, namespaces."""

from __future__ import annotations

import asyncio
import os

import pytest

from spotify_cache.stores.base import Store
from spotify_cache.stores.memory import MemoryStore
from spotify_cache.stores.redis import RedisStore


class Clock:
    """An injectable timer for the memory store: tests move time, never sleep."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest):
    namespace = f"contract{os.urandom(3).hex()}:*"
    if request.param == "memory":
        made: Store = MemoryStore("", {"MAX_ENTRIES": 1000}, namespace=namespace)
    else:
        made = RedisStore(request.getfixturevalue("redis_url"), {}, namespace=namespace)
    yield made
    made.clear()


def key(store: Store, name: str) -> str:
    return store.namespace[:-1] + name


def test_get_set_delete(store: Store) -> None:
    k = key(store, "a")
    assert store.get(k) is None
    store.set(k, b"\x00bytes\xff", None)
    assert store.get(k) == b"\x00bytes\xff"
    assert store.delete(k) is True
    assert store.delete(k) is False
    assert store.get(k) is None


def test_non_positive_ttl_means_expired(store: Store) -> None:
    k = key(store, "a")
    store.set(k, b"v", None)
    store.set(k, b"w", 0)
    assert store.get(k) is None
    assert store.add(k, b"v", -1) is True
    assert store.get(k) is None
    store.set(k, b"v", None)
    assert store.add(k, b"v", 0) is False


def test_add_only_when_free(store: Store) -> None:
    k = key(store, "a")
    assert store.add(k, b"1", 60) is True
    assert store.add(k, b"2", 60) is False
    assert store.get(k) == b"1"


def test_many(store: Store) -> None:
    keys = [key(store, f"m{i}") for i in range(5)]
    store.set_many({k: k.encode() for k in keys[:3]}, 60)
    assert store.get_many(keys) == [k.encode() for k in keys[:3]] + [None, None]
    assert store.delete_many(keys) == 3
    assert store.get_many(keys) == [None] * 5
    assert store.get_many([]) == []


def test_compare_and_set_keeps_ttl(store: Store) -> None:
    k = key(store, "c")
    store.set(k, b"1", 100)
    assert store.compare_and_set(k, b"2", b"3") is False
    assert store.compare_and_set(k, b"1", b"2") is True
    assert store.get(k) == b"2"
    assert 90 < store.ttl(k) <= 100
    assert store.compare_and_set(key(store, "missing"), b"1", b"2") is False


def test_touch(store: Store) -> None:
    k = key(store, "t")
    assert store.touch(k, 10) is False
    store.set(k, b"v", 10)
    assert store.touch(k, None) is True
    assert store.ttl(k) is None
    assert store.touch(k, 500) is True
    assert 490 < store.ttl(k) <= 500
    assert store.touch(k, 0) is True
    assert store.get(k) is None
    assert store.ttl(k) == -2.0


def test_iter_keys_and_delete_matching(store: Store) -> None:
    for name in ("user:1", "user:2", "track:1"):
        store.set(key(store, name), b"v", 60)
    assert sorted(store.iter_keys(key(store, "user:*"))) == [
        key(store, "user:1"),
        key(store, "user:2"),
    ]
    assert store.delete_matching(key(store, "user:*")) == 2
    assert list(store.iter_keys(key(store, "*"))) == [key(store, "track:1")]


def test_async_twins(store: Store) -> None:
    async def scenario() -> None:
        k = key(store, "async")
        await store.aset(k, b"1", 60)
        assert await store.aget(k) == b"1"
        assert await store.aadd(k, b"2", 60) is False
        assert await store.acompare_and_set(k, b"1", b"2") is True
        assert await store.aget_many([k, key(store, "nope")]) == [b"2", None]
        assert await store.atouch(k, None) is True
        await store.aset_many({key(store, "b"): b"b"}, 60)
        assert await store.adelete_many([k, key(store, "b")]) == 2
        assert await store.adelete(k) is False
        await store.aset(k, b"1", None)
        await store.aclear()
        assert await store.aget(k) is None

    asyncio.run(scenario())


def test_memory_expiry_follows_the_injected_clock() -> None:
    clock = Clock()
    store = MemoryStore("", {}, timer=clock)
    store.set("a", b"v", 10)
    clock.now += 9.9
    assert store.get("a") == b"v"
    clock.now += 0.2
    assert store.get("a") is None
    assert len(store) == 0


@pytest.mark.parametrize("frequency", [0, 1, 3, 10, 40])
def test_memory_cull_matches_locmem(frequency: int) -> None:
    """Same survivors count as Django's LocMemCache under the same writes."""
    from django.core.cache.backends.locmem import LocMemCache

    options = {"MAX_ENTRIES": 30, "CULL_FREQUENCY": frequency}
    peer = LocMemCache(f"cull-peer-{frequency}", {"OPTIONS": options})
    store = MemoryStore("", options)
    for i in range(1, 50):
        store.set(f"cull{i}", b"value", 1000)
        peer.set(f"cull{i}", "value", 1000)
    ours = [store.get(f"cull{i}") is not None for i in range(1, 50)]
    theirs = [peer.has_key(f"cull{i}") for i in range(1, 50)]
    assert ours == theirs  # with lru even the same entries survive


def test_memory_cull_evicts_by_strategy() -> None:
    store = MemoryStore("", {"MAX_ENTRIES": 3, "CULL_FREQUENCY": 3, "STRATEGY": "lru"})
    for name in ("a", "b", "c"):
        store.set(name, b"v", None)
    store.get("a")
    store.set("d", b"v", None)  # full: one third (one entry) goes, the least recent: b
    assert [store.get(n) is not None for n in "abcd"] == [True, False, True, True]


def test_memory_max_bytes() -> None:
    store = MemoryStore("", {"MAX_ENTRIES": 1000, "MAX_BYTES": 1000})
    for i in range(20):
        store.set(f"k{i:02d}", b"x" * 97, None)  # 100 bytes with the key
    assert store.bytes_used <= 1000
    assert len(store) == 10
    assert store.get("k19") is not None and store.get("k00") is None
    store.set("k19", b"y" * 500, None)
    assert store.bytes_used <= 1000


def test_memory_stores_are_shared_per_location_and_options() -> None:
    a = MemoryStore.open("shared-x", {"MAX_ENTRIES": 5, "SERIALIZER": "json"})
    b = MemoryStore.open("shared-x", {"MAX_ENTRIES": 5})
    c = MemoryStore.open("shared-y", {"MAX_ENTRIES": 5})
    assert a is b and a is not c


def test_memory_insert_first_lets_the_strategy_refuse_admission() -> None:
    """Without LocMem's cull-first rule the bound holds exactly, one victim at a time."""
    store = MemoryStore("", {"MAX_ENTRIES": 10, "STRATEGY": "lru"}, cull_first=False)
    for i in range(25):
        store.set(f"k{i}", b"v", None)
        assert len(store) == min(i + 1, 10)
    assert [store.get(f"k{i}") is not None for i in (14, 15, 24)] == [False, True, True]
