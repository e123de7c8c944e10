"""The near-cache: a small in-process tier of sealed blobs in front of Redis.

``OPTIONS["NEAR_CACHE"] = {"MAX_ENTRIES": 1000, "STRATEGY": "lru", "TTL": 60}``

A hit costs a dict lookup instead of a network round trip.  Blobs are kept
exactly as Redis holds them, so every hit is authenticated (and decrypted) by
the backend like any other read: the tier never weakens integrity.
Coherence across processes comes from Redis client-side tracking
(``tracking.Tracker``): any write, delete, expiry or eviction of a key, by
any client, removes it from every process's near-cache within the
propagation delay.  A local entry also never outlives the TTL Redis had
for the key when it was fetched, nor ``TTL``.  While tracking is down the
tier is bypassed, never trusted.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from . import option_checks
from .base import Store
from .memory import MemoryStore
from .redis import RedisStore
from .tracking import Tracker, literal_prefix
from .versions import Versions

DEFAULTS = {"MAX_ENTRIES": 1000, "STRATEGY": "lru", "TTL": 60.0, "MAX_BYTES": 64 * 2**20}
_shared: dict[tuple[Any, ...], NearCacheStore] = {}
_shared_lock = threading.Lock()


def _local_ttl(limit: float, remote_ms: int) -> float:
    if remote_ms == -1:  # no expiry in Redis
        return limit
    return min(limit, remote_ms / 1000)


class NearCacheStore(Store):
    """A ``RedisStore`` with a tracked in-process tier; the remote is authoritative."""

    option_names: ClassVar[frozenset[str]] = RedisStore.option_names | {"NEAR_CACHE"}
    #: ``admit(store_key, blob)``: whether a fetched blob may be kept in process,
    #: set by the backend to "it authenticates" (``ValueCodec.authentic``).
    admit: Callable[[str, bytes], bool] | None = None

    def __init__(
        self, location: str | Sequence[str], options: Mapping[str, Any], *, namespace: str = "*"
    ) -> None:
        self.remote = RedisStore(location, options, namespace=namespace)
        super().__init__(self.remote.location, options, namespace=namespace)
        near = {**DEFAULTS, **(options.get("NEAR_CACHE") or {})}
        size = int(near["MAX_ENTRIES"])
        self.ttl_limit = float(near["TTL"])
        # Insert first, then evict one victim at a time: the strategy may refuse admission.
        self.local = MemoryStore(
            "",
            {"MAX_ENTRIES": size, "STRATEGY": near["STRATEGY"], "MAX_BYTES": near["MAX_BYTES"]},
            cull_first=False,
        )
        prefix, resolve = literal_prefix(namespace), self.remote.tracking_url
        self.tracker = Tracker.for_prefix(self.remote.location, prefix, resolve)
        self.tracker.subscribe(self._forget)
        self.flush_on_clear = self.remote.flush_on_clear

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        RedisStore.check_options(options)
        near = options.get("NEAR_CACHE") or {}
        within = 'OPTIONS["NEAR_CACHE"]'
        option_checks.number(near, "MAX_ENTRIES", minimum=1, integer=True, within=within)
        option_checks.number(near, "TTL", minimum=0.001, within=within)
        option_checks.number(near, "MAX_BYTES", minimum=1, integer=True, within=within)

    @classmethod
    def open(
        cls, location: str | list[str], options: Mapping[str, Any], *, namespace: str = "*"
    ) -> Store:
        """One near-cache per process per configuration, shared by all threads."""
        ident = (os.getpid(), str(location), namespace, repr(sorted(options.items(), key=str)))
        with _shared_lock:
            store = _shared.get(ident)
            if store is None:
                store = _shared[ident] = cls(location, options, namespace=namespace)
            return store

    def client(self, write: bool = True) -> Any:
        return self.remote.client(write)

    def _forget(self, keys: Iterable[str] | None) -> None:
        if keys is None:
            self.local.clear()
            return
        for key in keys:
            self.local.delete(key)

    def _remember(self, epoch: int, items: Iterable[tuple[str, bytes | None, int]]) -> None:
        admit = self.admit
        with self.tracker.fresh(epoch) as still_valid:
            for key, blob, remote_ms in items:
                if blob is None or remote_ms == -2 or not still_valid(key):
                    continue
                if admit is None or admit(key, blob):  # junk never takes process memory
                    self.local.set(key, blob, _local_ttl(self.ttl_limit, remote_ms))

    def _written(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        self.tracker.bump(keys)
        for key in keys:
            self.local.delete(key)

    # -- reads ---------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        if self.tracker.healthy:
            blob = self.local.get(key)
            if blob is not None:
                return blob
        epoch = self.tracker.epoch
        blob, remote_ms = self.remote.get_with_pttl(key)
        self._remember(epoch, [(key, blob, remote_ms)])
        return blob

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        found = {k: self.local.get(k) for k in keys} if self.tracker.healthy else {}
        missing = [k for k in keys if found.get(k) is None]
        if missing:
            epoch = self.tracker.epoch
            fetched = self.remote.get_many_with_pttl(missing)
            self._remember(epoch, ((k, b, ms) for k, (b, ms) in zip(missing, fetched, strict=True)))
            found.update(zip(missing, (blob for blob, _ in fetched), strict=True))
        return [found[k] for k in keys]

    def get_for_update(self, key: str) -> bytes | None:
        return self.remote.get_for_update(key)

    def iter_keys(self, pattern: str) -> Iterator[str]:
        return self.remote.iter_keys(pattern)

    def ttl(self, key: str) -> float | None:
        return self.remote.ttl(key)

    # -- writes: remote first, then forget locally ---------------------------------------
    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self.remote.set(key, value, ttl)
        self._written([key])

    def set_many(self, items: Mapping[str, bytes], ttl: float | None) -> None:
        self.remote.set_many(items, ttl)
        self._written(items)

    def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        added = self.remote.add(key, value, ttl)
        self._written([key])
        return added

    def compare_and_set(self, key: str, expected: bytes, value: bytes) -> bool:
        swapped = self.remote.compare_and_set(key, expected, value)
        self._written([key])
        return swapped

    def set_if_unchanged(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None
    ) -> bool:
        written = self.remote.set_if_unchanged(key, expected, value, ttl)
        self._written([key])
        return written

    def versions(self, head: str, tail: str) -> Versions:
        return self.remote.versions(head, tail)

    def touch(self, key: str, ttl: float | None) -> bool:
        touched = self.remote.touch(key, ttl)
        self._written([key])
        return touched

    def delete(self, key: str) -> bool:
        deleted = self.remote.delete(key)
        self._written([key])
        return deleted

    def delete_many(self, keys: Sequence[str]) -> int:
        count = self.remote.delete_many(keys)
        self._written(keys)
        return count

    def delete_matching(self, pattern: str) -> int:
        count = self.remote.delete_matching(pattern)
        self.tracker.bump(None)
        self.local.clear()
        return count

    def clear(self) -> None:
        self.remote.clear()
        self.tracker.bump(None)
        self.local.clear()

    # -- async: local tier is synchronous and non-blocking; the remote is native async ----
    async def aget(self, key: str) -> bytes | None:
        if self.tracker.healthy:
            blob = self.local.get(key)
            if blob is not None:
                return blob
        epoch = self.tracker.epoch
        blob, remote_ms = await self.remote.aget_with_pttl(key)
        self._remember(epoch, [(key, blob, remote_ms)])
        return blob

    async def aget_many(self, keys: Sequence[str]) -> list[bytes | None]:
        found = {k: self.local.get(k) for k in keys} if self.tracker.healthy else {}
        missing = [k for k in keys if found.get(k) is None]
        if missing:
            epoch = self.tracker.epoch
            fetched = await self.remote.aget_many_with_pttl(missing)
            self._remember(epoch, ((k, b, ms) for k, (b, ms) in zip(missing, fetched, strict=True)))
            found.update(zip(missing, (blob for blob, _ in fetched), strict=True))
        return [found[k] for k in keys]

    async def aget_for_update(self, key: str) -> bytes | None:
        return await self.remote.aget_for_update(key)

    async def aset(self, key: str, value: bytes, ttl: float | None) -> None:
        await self.remote.aset(key, value, ttl)
        self._written([key])

    async def aset_many(self, items: Mapping[str, bytes], ttl: float | None) -> None:
        await self.remote.aset_many(items, ttl)
        self._written(items)

    async def aadd(self, key: str, value: bytes, ttl: float | None) -> bool:
        added = await self.remote.aadd(key, value, ttl)
        self._written([key])
        return added

    async def acompare_and_set(self, key: str, expected: bytes, value: bytes) -> bool:
        swapped = await self.remote.acompare_and_set(key, expected, value)
        self._written([key])
        return swapped

    async def aset_if_unchanged(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None
    ) -> bool:
        written = await self.remote.aset_if_unchanged(key, expected, value, ttl)
        self._written([key])
        return written

    async def atouch(self, key: str, ttl: float | None) -> bool:
        touched = await self.remote.atouch(key, ttl)
        self._written([key])
        return touched

    async def adelete(self, key: str) -> bool:
        deleted = await self.remote.adelete(key)
        self._written([key])
        return deleted

    async def adelete_many(self, keys: Sequence[str]) -> int:
        count = await self.remote.adelete_many(keys)
        self._written(keys)
        return count

    async def aclear(self) -> None:
        await self.remote.aclear()
        self.tracker.bump(None)
        self.local.clear()
