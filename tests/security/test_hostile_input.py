"""An attacker with raw access to the store, against a cache in normal use.

A hypothesis state machine interleaves the cache's own operations (set, get,
get_many, delete, incr, add, get_or_set, set_many, invalidations; partitions
and tags configured) with attacker moves on the raw store: swapping blobs
between keys, copying blobs written by a cache with another KEY_PREFIX, another
key, another partition layout or (on Redis) another database, writing plain
integers, flipping bits, truncating, re-inserting captured blobs without their
TTL after they expired, forging a pickle exploit, and (on Redis) rolling a
version record back to an old token.

Invariant, checked on every value the cache returns: it is a value this cache
stored under that key and it has not expired.  While no version record has
been rolled back it must also not have been invalidated by tag or partition
(after a roll-back it may come back: see README, Security model).  The cache
may forget anything at any time.  No pickle exploit ever runs.

On the memory store the attacker writes the dict through the store's own
``set``/``get`` (below the codec: the same bytes the dict holds), and puts a
captured blob back with the lifetime it had left: the memory store does not
seal expiry (nothing outside the process can write it), so an in-process
attacker putting back an expired blob is outside what it defends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from spotify_cache.codecs.sealing import generate_key
from spotify_cache.routing import RECORD_VERSION
from tests.helpers import make_cache

pytestmark = pytest.mark.filterwarnings("ignore::django.core.cache.CacheKeyWarning")

K1, K2 = generate_key(), generate_key()
PARTITIONS = {"listeners": {"PREFIX": "user:"}, "catalog": {"PREFIX": "track:"}}
#: The same prefixes under each other's names: another partition layout on the same keys.
SWAPPED = {"listeners": {"PREFIX": "track:"}, "catalog": {"PREFIX": "user:"}}
KEYS = ["user:1", "user:2", "track:1", "plain", "user:{1}*?[x]", "track:\x00\n\x1b"]
TAGS = ["a", "b"]
SHORT = 0.06  # seconds: the short TTL the attacker waits out
SLACK = 0.04  # seconds between the model's clock and the seal's, at most
OTHER_DB = 5
MARKER = Path(tempfile.mkdtemp(prefix="spotify-cache-pwned-")) / "pwned"
MACHINE = settings(
    max_examples=75,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


class Refused(Exception):
    """Raised by the loader of a read-only ``get_or_set``."""


def _refuse() -> Any:
    raise Refused


class Exploit:
    """Unpickling this creates ``MARKER``."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (MARKER,))


@dataclasses.dataclass(frozen=True)
class Entry:
    """One value the cache stored under a key: until when, under which record epochs."""

    value: Any
    expires_at: float
    records: tuple[tuple[str, int], ...]


class Raw:
    """The attacker's access below the codec: Redis commands, or the memory store."""

    def __init__(self, cache: Any, url: str | None) -> None:
        self.cache = cache
        self.client = redis.Redis.from_url(url) if url else None
        self.store = getattr(cache.store, "remote", cache.store)

    def read(self, skey: str) -> bytes | None:
        return self.client.get(skey) if self.client else self.store.get(skey)

    def left(self, skey: str) -> float | None:
        """Seconds the store still keeps ``skey`` (``None``: for ever)."""
        if self.client:
            ms = self.client.pttl(skey)
            return None if ms == -1 else max(ms, 1) / 1000
        return self.store.ttl(skey)

    def write(self, skey: str, blob: bytes | None, ttl: float | None = None) -> None:
        if blob is None:
            self.delete(skey)
        elif self.client:
            self.client.set(skey, blob, px=None if ttl is None else max(1, int(ttl * 1000)))
        else:
            self.store.set(skey, blob, ttl)

    def delete(self, skey: str) -> None:
        if self.client:
            self.client.delete(skey)
        else:
            self.store.delete(skey)


class Attacked(RuleBasedStateMachine):
    """Configured by ``run`` (class attributes): the store and its caches."""

    redis_url: ClassVar[str | None] = None
    partitioned: ClassVar[bool] = True
    caches: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.a = self.caches["a"]
        self.raw = Raw(self.a, self.redis_url)
        self.other_db = None
        if self.redis_url:
            self.other_db = Raw(
                self.caches["db"], self.redis_url.rsplit("/", 1)[0] + f"/{OTHER_DB}"
            )
        self.history: dict[str, list[Entry]] = {k: [] for k in KEYS}
        self.epochs: dict[str, int] = {}
        self.counter = itertools.count(1)
        #: every blob seen under each key: the attacker watches each write (MONITOR)
        #: (blob, until when the store keeps it (monotonic), when its value expires)
        self.stash: dict[str, list[tuple[bytes, float | None, float]]] = {k: [] for k in KEYS}
        self.record_stash: list[tuple[str, bytes | None]] = []
        self.rolled_back = False
        self.short_written = False
        MARKER.unlink(missing_ok=True)

    def teardown(self) -> None:
        for cache in self.caches.values():
            cache.clear()

    # -- the model -------------------------------------------------------------------
    def records(self, key: str, tags: list[str]) -> tuple[tuple[str, int], ...]:
        names = [f"t:{t}" for t in tags]
        if self.partitioned:
            names.append(self.a.partitions[self.a.partition_of(key)].record)
        return tuple((n, self.epochs.get(n, 0)) for n in names)

    def stored(
        self, key: str, value: Any, ttl: float | None, tags: list[str], began: float
    ) -> None:
        expires = math.inf if ttl is None else began + ttl
        self.history[key].append(Entry(value, expires, self.records(key, tags)))
        self.sniff(key, expires)

    def sniff(self, key: str, expires: float = math.inf) -> None:
        """The attacker reads what was just written (``expires``: when its value expires)."""
        skey = self.skey(key)
        blob = self.raw.read(skey)
        if blob:
            left = self.raw.left(skey)
            until = None if left is None else time.monotonic() + left
            self.stash[key].append((blob, until, expires))

    def matches(self, key: str, value: Any, began: float) -> list[Entry]:
        """The entries of ``key`` that ``value``, read at ``began``, may be."""
        return [
            e
            for e in self.history[key]
            if e.value == value
            and type(e.value) is type(value)
            and began < e.expires_at + SLACK
            and (self.rolled_back or all(self.epochs.get(n, 0) == ep for n, ep in e.records))
        ]

    def check(self, key: str, value: Any, began: float) -> list[Entry]:
        found = self.matches(key, value, began)
        assert found, f"{key!r} returned {value!r}: never stored there, expired or invalidated"
        return found

    def fresh(self, kind: str, ttl: float | None) -> Any:
        """A value never used before; notes a short TTL (from the arguments alone:
        whether a rule may run must not depend on the clock, hypothesis replays)."""
        self.short_written = self.short_written or ttl == SHORT
        n = next(self.counter)
        return 1000 * n if kind == "int" else f"A{n}"

    def invalidated(self, name: str) -> None:
        self.epochs[name] = next(self.counter)

    def skey(self, key: str) -> str:
        return self.a.make_key(key)

    # -- the cache in normal use ---------------------------------------------------------
    ttls = st.sampled_from([None, 60.0, SHORT])
    tags = st.lists(st.sampled_from(TAGS), unique=True, max_size=2)
    keys = st.sampled_from(KEYS)
    kinds = st.sampled_from(["str", "int"])

    @rule(key=keys, kind=kinds, ttl=ttls, tags=tags)
    def set(self, key: str, kind: str, ttl: float | None, tags: list[str]) -> None:
        value, began = self.fresh(kind, ttl), time.time()
        self.a.set(key, value, ttl, tags=tags)
        self.stored(key, value, ttl, tags, began)

    @rule(data=st.dictionaries(keys, kinds, min_size=1, max_size=3), ttl=ttls, tags=tags)
    def set_many(self, data: dict[str, str], ttl: float | None, tags: list[str]) -> None:
        values, began = {k: self.fresh(kind, ttl) for k, kind in data.items()}, time.time()
        self.a.set_many(values, ttl, tags=tags)
        for key, value in values.items():
            self.stored(key, value, ttl, tags, began)

    @rule(key=keys)
    def get(self, key: str) -> None:
        began = time.time()
        value = self.a.get(key, self)
        if value is not self:
            self.check(key, value, began)

    @rule(keys=st.lists(keys, unique=True, min_size=1))
    def get_many(self, keys: list[str]) -> None:
        began = time.time()
        for key, value in self.a.get_many(keys).items():
            self.check(key, value, began)

    @rule(key=keys, kind=kinds, ttl=ttls, tags=tags)
    def add(self, key: str, kind: str, ttl: float | None, tags: list[str]) -> None:
        value, began = self.fresh(kind, ttl), time.time()
        if self.a.add(key, value, ttl, tags=tags):
            self.stored(key, value, ttl, tags, began)

    @rule(key=keys, kind=kinds, ttl=ttls, tags=tags)
    def get_or_set(self, key: str, kind: str, ttl: float | None, tags: list[str]) -> None:
        value, began = self.fresh(kind, ttl), time.time()
        got = self.a.get_or_set(key, lambda: value, ttl, tags=tags)
        if got == value and type(got) is type(value):
            self.stored(key, value, ttl, tags, began)
        else:
            self.check(key, got, began)

    @rule(key=keys, delta=st.integers(1, 3))
    def incr(self, key: str, delta: int) -> None:
        began = time.time()
        try:
            new = self.a.incr(key, delta)
        except (ValueError, TypeError):  # absent, rejected, invalidated; or a str value
            return
        for old in self.check(key, new - delta, began):
            self.history[key].append(dataclasses.replace(old, value=new))
        self.sniff(key, min(old.expires_at for old in self.matches(key, new, began)))

    @rule(key=keys)
    def delete(self, key: str) -> None:
        self.a.delete(key)  # the old blobs stay in the history: a replay may bring them back

    @rule(key=keys)
    def invalidate_key(self, key: str) -> None:
        self.a.invalidate(key, glob=False)  # a tombstone: replayable like a delete

    @rule(tag=st.sampled_from(TAGS))
    def invalidate_tag(self, tag: str) -> None:
        self.a.invalidate_tags(tag)
        self.invalidated(f"t:{tag}")

    @precondition(lambda self: self.partitioned)
    @rule(name=st.sampled_from(["listeners", "catalog", "default"]))
    def invalidate_partition(self, name: str) -> None:
        self.a.invalidate_partition(name)
        self.invalidated(self.a.partitions[name].record)

    @precondition(lambda self: self.short_written)
    @rule()
    def wait_out_short_ttls(self) -> None:
        time.sleep(SHORT + SLACK)
        self.short_written = False

    # -- the attacker --------------------------------------------------------------------
    @rule(first=keys, second=keys)
    def swap(self, first: str, second: str) -> None:
        one, two = self.raw.read(self.skey(first)), self.raw.read(self.skey(second))
        self.raw.write(self.skey(first), two)
        self.raw.write(self.skey(second), one)

    @rule(key=keys, number=st.integers(-(2**63), 2**63))
    def plain_integer(self, key: str, number: int) -> None:
        self.raw.write(self.skey(key), str(number).encode())

    @rule(key=keys, bit=st.integers(0, 10_000))
    def flip_bit(self, key: str, bit: int) -> None:
        blob = self.raw.read(self.skey(key))
        if blob:
            data = bytearray(blob)
            bit %= len(data) * 8
            data[bit // 8] ^= 1 << (bit % 8)
            self.raw.write(self.skey(key), bytes(data))

    @rule(key=keys, keep=st.integers(0, 200))
    def truncate(self, key: str, keep: int) -> None:
        blob = self.raw.read(self.skey(key))
        if blob:
            self.raw.write(self.skey(key), blob[: keep % len(blob)])

    @rule(key=keys, tail=st.binary(max_size=64))
    def junk_behind_a_valid_header(self, key: str, tail: bytes) -> None:
        blob = self.raw.read(self.skey(key)) or b"\x01\x41\x00"
        self.raw.write(self.skey(key), blob[:3] + tail)

    @rule(key=keys)
    def capture(self, key: str) -> None:
        self.sniff(key)  # what is there now, the attacker's own edits included

    @rule(source=keys, onto=st.one_of(st.none(), keys), back=st.integers(0, 3))
    def put_back(self, source: str, onto: str | None, back: int) -> None:
        """A blob seen under ``source`` (``back`` writes ago), put back under its own
        key or ``onto`` another; on Redis without a TTL (after ``wait_out_short_ttls``
        that is an expired value re-inserted)."""
        seen = self.stash[source]
        if not seen:  # (no precondition: what was seen depends on the clock)
            return
        blob, until, _ = seen[-1 - back % len(seen)]
        if self.redis_url or until is None:
            self.raw.write(self.skey(onto or source), blob)
        elif until > time.monotonic():  # on memory: for the time the store still had for it
            self.raw.write(self.skey(onto or source), blob, until - time.monotonic())

    @precondition(lambda self: self.redis_url)  # the memory store does not seal expiry
    @rule(key=keys)
    def put_back_expired(self, key: str) -> None:
        """The blob seen under ``key`` that expired first, put back without a TTL."""
        seen = sorted(self.stash[key], key=lambda s: s[2])
        if seen and seen[0][2] < time.time():
            self.raw.write(self.skey(key), seen[0][0])

    @rule(
        who=st.sampled_from(["namespace", "other_key", "layout"]),
        source=keys,
        onto=keys,
        kind=kinds,
        exploit=st.booleans(),
    )
    def foreign_blob(self, who: str, source: str, onto: str, kind: str, exploit: bool) -> None:
        """Another cache writes (another KEY_PREFIX, another key, another partition
        layout: the last two on this cache's own store keys); the attacker copies
        the first's blob onto this cache's key."""
        other = self.caches.get(who)
        if other is None:
            return  # no partitions: no other layout
        if who == "layout" and other.partition_of(source) == self.a.partition_of(source):
            return  # same prefix, key and partition: that writer *is* this cache
        value = Exploit() if exploit else (f"F{next(self.counter)}" if kind == "str" else -1)
        other.set(source, value, None)
        if who == "namespace":
            blob = Raw(other, self.redis_url).read(other.make_key(source))
            self.raw.write(self.skey(onto), blob)
        MARKER.unlink(missing_ok=True)  # pickling Exploit for the write does not run it

    @precondition(lambda self: self.redis_url)
    @rule(key=keys, kind=kinds)
    def from_another_database(self, key: str, kind: str) -> None:
        value = f"D{next(self.counter)}" if kind == "str" else -2
        self.caches["db"].set(key, value, None)
        self.raw.write(self.skey(key), self.other_db.read(self.skey(key)))

    @rule(key=keys, forged=st.sampled_from(["bare", "padded", "behind_header"]))
    def pickle_exploit(self, key: str, forged: str) -> None:
        payload = pickle.dumps(Exploit())
        header = (self.raw.read(self.skey(key)) or b"\x01\x41\x00")[:3]
        blob = {"bare": payload, "padded": header + payload + bytes(32)}.get(forged)
        self.raw.write(self.skey(key), blob or header + bytes(12) + payload + bytes(16))

    @precondition(lambda self: self.redis_url)
    @rule(name=st.sampled_from(["t:a", "t:b", "p:listeners", "p:catalog", "p:default"]))
    def capture_record(self, name: str) -> None:
        self.record_stash.append((name, self.raw.read(self.a.make_key(name, RECORD_VERSION))))

    @precondition(lambda self: self.record_stash)
    @rule(index=st.integers(0, 1000))
    def roll_back_record(self, index: int) -> None:  # (the stash grows on every capture)
        name, token = self.record_stash[index % len(self.record_stash)]
        self.raw.write(self.a.make_key(name, RECORD_VERSION), token)
        self.rolled_back = True  # values invalidated under it may come back: documented

    @invariant()
    def no_exploit_ran(self) -> None:
        assert not MARKER.exists()

    @invariant()
    def every_read_is_sound(self) -> None:
        """After every step, every key read both ways: ``get_many`` and a read-only
        ``get_or_set`` (its loader refuses, so it only ever returns what it found)."""
        began = time.time()
        for key, value in self.a.get_many(KEYS).items():
            self.check(key, value, began)
        for key in KEYS:
            try:
                value = self.a.get_or_set(key, _refuse, 60)
            except Refused:
                continue
            self.check(key, value, began)


def run(caches: dict[str, Any], redis_url: str | None) -> None:
    Attacked.caches, Attacked.redis_url = caches, redis_url
    Attacked.partitioned = "layout" in caches
    try:
        run_state_machine_as_test(Attacked, settings=MACHINE)
    finally:
        for cache in caches.values():
            cache.clear()


def family(
    location: str, other_db: str | None = None, partitioned: bool = True, **extra: Any
) -> dict[str, Any]:
    """The cache under attack and the caches whose blobs the attacker moves."""
    prefix = "hx" + os.urandom(3).hex()
    base = {"ENCRYPTION_KEYS": [K1], **extra}
    if partitioned:
        base["PARTITIONS"] = PARTITIONS
    caches = {
        "a": make_cache(location, KEY_PREFIX=prefix, **base),
        "namespace": make_cache(location, KEY_PREFIX=prefix + "n", **base),
        "other_key": make_cache(location, KEY_PREFIX=prefix, **{**base, "ENCRYPTION_KEYS": [K2]}),
    }
    if partitioned:
        caches["layout"] = make_cache(
            location, KEY_PREFIX=prefix, **{**base, "PARTITIONS": SWAPPED}
        )
    if other_db:
        caches["db"] = make_cache(other_db, KEY_PREFIX=prefix, **base)
    return caches


def test_attacker_on_the_memory_store() -> None:
    run(family(f"memory://hostile-{os.urandom(3).hex()}"), None)


@pytest.mark.parametrize("partitioned", [True, False], ids=["partitions", "no_partitions"])
def test_attacker_with_raw_redis_access(redis_url: str, partitioned: bool) -> None:
    """Without partitions nothing but the seal's database binding stops a blob
    copied from another database (with them, the version tokens differ too)."""
    base = redis_url.rsplit("/", 1)[0]
    run(family(f"{base}/0", f"{base}/{OTHER_DB}", partitioned), f"{base}/0")


def test_attacker_with_raw_redis_access_and_a_near_cache(redis_url: str) -> None:
    base = redis_url.rsplit("/", 1)[0]
    caches = family(f"{base}/0", f"{base}/{OTHER_DB}", NEAR_CACHE={"MAX_ENTRIES": 100})
    caches["a"].store.tracker.wait_ready(5)
    run(caches, f"{base}/0")


# -- what the machine found, pinned ------------------------------------------------------
def test_get_or_set_does_not_serve_an_expired_blob_put_back(redis_url: str) -> None:
    """The serve-stale path took any value past its sealed expiry, even with
    STALE 0: a blob put back after it expired was returned by ``get_or_set``
    (and ``aget_or_set``)."""
    cache = make_cache(redis_url, KEY_PREFIX="gos" + os.urandom(3).hex())
    client = redis.Redis.from_url(redis_url)
    cache.set_many({"k": "expired", "ak": "expired"}, SHORT)
    blobs = {k: client.get(cache.make_key(k)) for k in ("k", "ak")}
    time.sleep(SHORT + SLACK)
    for key, blob in blobs.items():
        client.set(cache.make_key(key), blob)
    assert cache.get("k") is None
    assert cache.get_or_set("k", "loaded", 60) == "loaded"
    assert asyncio.run(cache.aget_or_set("ak", "loaded", 60)) == "loaded"
    assert cache.get_many(["k", "ak"]) == {"k": "loaded", "ak": "loaded"}
    cache.clear()


def test_rolling_back_a_version_record_revives_what_it_invalidated(redis_url: str) -> None:
    """The documented limit: state kept in Redis can be rolled back by whoever
    writes to Redis, version records included (until the values expire)."""
    cache = make_cache(redis_url, KEY_PREFIX="rb" + os.urandom(3).hex(), PARTITIONS={})
    client = redis.Redis.from_url(redis_url)
    cache.set("k", "tagged", 60, tags=["t"])
    record = cache.make_key("t:t", RECORD_VERSION)
    token = client.get(record)
    cache.invalidate_tags("t")
    assert cache.get("k") is None
    client.set(record, token)
    deadline = time.monotonic() + 2
    while cache.get("k") is None and time.monotonic() < deadline:
        time.sleep(0.01)  # the process learns of the write through tracking
    assert cache.get("k") == "tagged"
    cache.clear()
