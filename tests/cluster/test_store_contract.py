"""The store contract (``tests/test_store_contract.py``) run on the cluster store,
and what only a cluster can show: keys on every primary, hash tags, redirects."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Iterator

import pytest
from redis.cluster import RedisCluster

from spotify_cache.stores.cluster import RedisClusterStore
from tests import test_store_contract as contract

# Every contract test that takes a ``store``, run against the fixture below.
globals().update(
    {
        name: test
        for name, test in vars(contract).items()
        if name.startswith("test_") and "store" in inspect.signature(test).parameters
    }
)
key = contract.key


@pytest.fixture
def store(redis_cluster: str) -> Iterator[RedisClusterStore]:
    made = RedisClusterStore(redis_cluster, {}, namespace=f"contract{os.urandom(3).hex()}:*")
    yield made
    made.clear()


def _primaries_holding(client: RedisCluster, keys: list[str]) -> set[str]:
    return {client.get_node_from_key(k).name for k in keys}


def test_batches_span_every_primary(store: RedisClusterStore, cluster_client: RedisCluster) -> None:
    keys = [key(store, f"spread{i}") for i in range(64)]
    assert len(_primaries_holding(cluster_client, keys)) == 3
    store.set_many({k: k.encode() for k in keys[:32]}, None)  # MSET per slot
    store.set_many({k: k.encode() for k in keys[32:]}, 60)  # SET PX per key, one pipeline
    assert store.get_many(keys) == [k.encode() for k in keys]
    assert [store.get(k) for k in keys[::7]] == [k.encode() for k in keys[::7]]
    with_ttls = store.get_many_with_pttl(keys)
    assert [blob for blob, _ in with_ttls] == [k.encode() for k in keys]
    assert {ms for _, ms in with_ttls[:32]} == {-1}
    assert all(55_000 < ms <= 60_000 for _, ms in with_ttls[32:])
    assert store.delete_many([*keys, key(store, "absent")]) == 64
    assert store.get_many(keys) == [None] * 64


def test_hash_tags_keep_keys_on_one_slot(store: RedisClusterStore) -> None:
    client = store.client()
    keys = [key(store, f"{{listener:7}}:{name}") for name in ("top", "recent", "mix")]
    assert len({client.keyslot(k) for k in keys}) == 1
    store.set_many(dict.fromkeys(keys, b"v"), 60)
    assert store.get_many(keys) == [b"v"] * 3
    assert store.delete_many(keys) == 3


def test_a_moved_slot_is_followed(store: RedisClusterStore) -> None:
    """The fast path sends to the primary the client believes in; a stale table
    (as after a resharding) gets a MOVED reply, which the client follows."""
    k = key(store, "moved")
    store.set(k, b"v", 60)
    client = store.client()
    slot = client.keyslot(k)
    table = client.nodes_manager.slots_cache
    owner = table[slot]
    wrong = next(n for n in client.get_primaries() if n.name != owner[0].name)
    table[slot] = [wrong]
    try:
        assert store.get(k) == b"v"
        assert store.get_many([key(store, "other"), k]) == [None, b"v"]  # one MGET: MOVED
        store.set(k, b"w", 60)
        assert store.get(k) == b"w"
    finally:
        table[slot] = owner


def test_ttl_and_absent_keys(store: RedisClusterStore) -> None:
    k = key(store, "ttl")
    assert store.ttl(k) == -2.0
    store.set(k, b"v", None)
    assert store.ttl(k) is None
    assert store.add(k, b"w", 0) is False
    assert store.set_if_unchanged(k, b"v", b"w", 60) is True
    assert store.set_if_unchanged(k, b"v", b"x", 60) is False
    assert store.get(k) == b"w"


def test_async_on_many_loops(store: RedisClusterStore) -> None:
    """Each loop gets its own client, closed when the loop shuts down."""
    from spotify_cache.stores import cluster_client

    async def scenario(n: int) -> None:
        k = key(store, f"loop{n}")
        await store.aset(k, b"v", 60)
        assert await store.aget_many([k, key(store, "none")]) == [b"v", None]
        assert await store.aset_if_unchanged(k, b"v", b"w", 60) is True
        assert await store.aget_with_pttl(k) == (b"w", pytest.approx(60000, abs=1000))
        assert await store.adelete(k) is True

    for n in range(3):
        asyncio.run(scenario(n))
    assert not [loop for loop in list(cluster_client._async_clients) if loop.is_closed()]
