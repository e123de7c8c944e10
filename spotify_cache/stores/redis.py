"""The Redis store: pooled, pipelined, Lua where a step must be atomic.

``LOCATION`` is one URL (``redis://``, ``rediss://``, ``unix://``) or a list:
the first is the primary, the rest are read replicas (reads pick one at
random, writes and read-modify-write go to the primary); with
``OPTIONS["SENTINELS"]`` it names a Sentinel service (``sentinel.py``).  Sync
calls use ``redis.Redis``; async calls use ``redis.asyncio`` natively, never a
thread.  Each call has a deadline of ``SOCKET_TIMEOUT x (1 + RETRIES)``, set
here at the boundary (``deadline.py``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import redis
import redis.asyncio as aredis

from ..codecs.framing import TOMBSTONE
from ..exceptions import StoreError
from . import option_checks, redis_pool
from .base import Store
from .lua import source
from .redis_errors import (  # _wrap is imported from here too
    _wrap,
    wraps_async_errors,
    wraps_async_errors_per_command,
    wraps_errors,
    wraps_errors_per_command,
)
from .redis_wire import Wire
from .versions import Versions

Owns = Callable[[str], bool]
_BATCH = 500


#: The longest expiry Redis takes, in ms (``now + PX`` must fit in a signed 64-bit int).
MAX_PX = 2**62


def _px(ttl: float) -> int:
    """Milliseconds for ``PX``: at least 1, at most ``MAX_PX`` (``inf`` too); NaN is refused."""
    if ttl != ttl:
        raise ValueError("a timeout of NaN seconds")
    return MAX_PX if ttl * 1000 >= MAX_PX else max(1, int(ttl * 1000))


def _touch_arg(ttl: float | None) -> str:
    return "" if ttl is None else str(_px(ttl) if ttl > 0 else 0)


def _px_arg(ttl: float | None) -> str:
    return "" if ttl is None else str(_px(ttl))


def _owned_key(raw: bytes | str, owns: Owns | None) -> str | None:
    """A scanned key as str if this cache could have made it: never a key that
    is not UTF-8 (no str key encodes to it), nor one ``owns`` refuses."""
    try:
        key = raw.decode() if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        return None
    return key if owns is None or owns(key) else None


class RedisStore(Store):
    """Sealed blobs in Redis; one pool per process per configuration."""

    option_names: ClassVar[frozenset[str]] = frozenset({*redis_pool.OPTION_NAMES, "CLEAR"})
    #: Whether a store key is one this cache could have made (``namespace.Namespace.owns``),
    #: set by the backend: the namespace glob alone also matches other caches' keys.
    owns: Owns | None = None

    def __init__(
        self, location: str | Sequence[str], options: Mapping[str, Any], *, namespace: str = "*"
    ) -> None:
        urls = [location] if isinstance(location, str) else list(location)
        super().__init__(urls[0], options, namespace=namespace)
        self.urls = urls
        self.flush_on_clear = options.get("CLEAR", "namespace") == "flushdb"
        self._kwargs = redis_pool.pool_kwargs(options)
        self.budget = redis_pool.call_budget(self._kwargs)
        self._primary, self._replicas = redis_pool.sync_clients(urls, self._kwargs)
        #: How tracking connections find the primary's URL (``None``: it is ``location``).
        self.tracking_url = redis_pool.tracking_url(urls, self._kwargs)
        self._wire = self._wire_for(self._primary)
        self._read_wires = [self._wire_for(c) for c in self._replicas] or [self._wire]
        self._cas = self._primary.register_script(source("compare_and_set"))
        self._touch = self._primary.register_script(source("touch"))
        self._add = self._primary.register_script(source("add"))
        self._set_if = self._primary.register_script(source("set_if_unchanged"))

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        redis_pool.check_options(options)
        option_checks.one_of(options, "CLEAR", ("namespace", "flushdb"))

    # -- clients -----------------------------------------------------------------
    def client(self, write: bool = True) -> redis.Redis:
        """The raw redis-py client: the primary, or a random replica for reads."""
        if write or not self._replicas:
            return self._primary
        return random.choice(self._replicas)

    def _wire_for(self, client: redis.Redis) -> Wire:
        pool, retries = client.connection_pool, self._kwargs["retries"]
        return Wire(pool, retries, redis_pool.backoff(), self.budget)

    def _reader(self) -> Wire:
        wires = self._read_wires
        return wires[0] if len(wires) == 1 else random.choice(wires)

    def async_client(self, write: bool = True) -> aredis.Redis:
        """The raw ``redis.asyncio`` client for the running loop."""
        return redis_pool.async_client(self.urls, self._kwargs, read=not write)

    # -- sync --------------------------------------------------------------------
    @wraps_errors
    def get(self, key: str) -> bytes | None:
        return self._reader().execute("GET", key)

    @wraps_errors
    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return self._reader().execute("MGET", *keys) if keys else []

    @wraps_errors
    def get_with_pttl(self, key: str) -> tuple[bytes | None, int]:
        """The blob and its remaining TTL in ms (-1 none, -2 absent), in one round
        trip, from the primary: the near-cache fills from it because its
        invalidations come from it (a lagging replica would refill stale data)."""
        pipe = self._primary.pipeline(transaction=False)
        pipe.get(key)
        pipe.pttl(key)
        blob, pttl = pipe.execute()
        return blob, pttl

    @wraps_errors
    def get_many_with_pttl(self, keys: Sequence[str]) -> list[tuple[bytes | None, int]]:
        """``get_with_pttl`` for many keys, in one round trip (from the primary)."""
        pipe = self._primary.pipeline(transaction=False)
        pipe.mget(keys)
        for key in keys:
            pipe.pttl(key)
        blobs, *ttls = pipe.execute()
        return list(zip(blobs, ttls, strict=True))

    @wraps_errors
    def get_for_update(self, key: str) -> bytes | None:
        return self._primary.get(key)  # type: ignore[return-value]

    @wraps_errors
    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        if ttl is not None and ttl <= 0:
            self._wire.execute("UNLINK", key)
        elif ttl is None:
            self._wire.execute("SET", key, value)
        else:
            self._wire.execute("SET", key, value, "PX", _px(ttl))

    @wraps_errors
    def set_many(self, items: Mapping[str, bytes], ttl: float | None) -> None:
        if not items:
            return
        if ttl is not None and ttl <= 0:
            self._primary.unlink(*items)
        elif ttl is None:
            self._primary.mset(dict(items))
        else:
            pipe = self._primary.pipeline(transaction=False)
            for key, value in items.items():
                pipe.set(key, value, px=_px(ttl))
            pipe.execute()

    @wraps_errors
    def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        if ttl is not None and ttl <= 0:
            return not self._primary.exists(key)
        return self._add(keys=[key], args=[value, _px_arg(ttl), TOMBSTONE]) == 1

    @wraps_errors
    def set_if_unchanged(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None
    ) -> bool:
        if ttl is not None and ttl <= 0:
            return False
        args: list[bytes | str] = [expected or b"", value, _px_arg(ttl)]
        return self._set_if(keys=[key], args=args) == 1

    def versions(self, head: str, tail: str) -> Versions:
        """Records in Redis, cached in process and kept coherent by tracking."""
        from .redis_versions import RedisVersions

        return RedisVersions.shared(
            self._primary, self.urls[0], head, tail, self.async_client, self.tracking_url
        )

    @wraps_errors
    def compare_and_set(self, key: str, expected: bytes, value: bytes) -> bool:
        return self._cas(keys=[key], args=[expected, value]) in (1, 2)

    @wraps_errors
    def touch(self, key: str, ttl: float | None) -> bool:
        return self._touch(keys=[key], args=[_touch_arg(ttl)]) == 1

    @wraps_errors
    def delete(self, key: str) -> bool:
        return bool(self._wire.execute("UNLINK", key))

    @wraps_errors
    def delete_many(self, keys: Sequence[str]) -> int:
        return int(self._wire.execute("UNLINK", *keys)) if keys else 0

    def _check_namespace(self) -> None:
        if not self.flush_on_clear and not self.namespace:
            raise StoreError(
                "clear() cannot find this cache's keys: KEY_FUNCTION does not embed the key "
                'and version; set OPTIONS["CLEAR"] = "flushdb" to flush the whole database'
            )

    @wraps_errors_per_command
    def clear(self) -> None:
        self._check_namespace()
        if self.flush_on_clear:
            self._primary.flushdb()
        else:
            self.delete_matching(self.namespace)

    def iter_keys(self, pattern: str, owns: Owns | None = None) -> Iterator[str]:
        """Keys matching ``pattern`` that this cache could have made: UTF-8 ones
        that ``owns`` (by default ``self.owns``, when set) accepts."""
        mine = owns or self.owns
        try:
            for raw in self._primary.scan_iter(match=pattern, count=_BATCH):
                key = _owned_key(raw, mine)
                if key is not None:
                    yield key
        except redis.RedisError as exc:
            raise _wrap(exc) from exc

    @wraps_errors_per_command
    def delete_matching(self, pattern: str, owns: Owns | None = None) -> int:
        """Remove every key ``iter_keys`` yields (SCAN + UNLINK in batches, never KEYS)."""
        removed, batch = 0, []
        for key in self.iter_keys(pattern, owns):
            batch.append(key)
            if len(batch) >= _BATCH:
                removed += self.delete_many(batch)
                batch = []
        return removed + self.delete_many(batch)

    @wraps_errors
    def ttl(self, key: str) -> float | None:
        """Seconds left: ``None`` if the key never expires, ``-2.0`` if absent."""
        ms = self._primary.pttl(key)
        return None if ms == -1 else (-2.0 if ms == -2 else ms / 1000)

    # -- async ------------------------------------------------------------------
    @wraps_async_errors
    async def aget(self, key: str) -> bytes | None:
        return await self.async_client(write=False).get(key)  # type: ignore[return-value]

    @wraps_async_errors
    async def aget_many(self, keys: Sequence[str]) -> list[bytes | None]:
        blobs = await self.async_client(write=False).mget(keys) if keys else []
        return blobs  # type: ignore[return-value]

    @wraps_async_errors
    async def aget_with_pttl(self, key: str) -> tuple[bytes | None, int]:
        async with self.async_client().pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            blob, pttl = await pipe.execute()
        return blob, pttl

    @wraps_async_errors
    async def aget_many_with_pttl(self, keys: Sequence[str]) -> list[tuple[bytes | None, int]]:
        async with self.async_client().pipeline(transaction=False) as pipe:
            pipe.mget(keys)
            for key in keys:
                pipe.pttl(key)
            blobs, *ttls = await pipe.execute()
        return list(zip(blobs, ttls, strict=True))

    @wraps_async_errors
    async def aget_for_update(self, key: str) -> bytes | None:
        return await self.async_client().get(key)  # type: ignore[return-value]

    @wraps_async_errors
    async def aset(self, key: str, value: bytes, ttl: float | None) -> None:
        client = self.async_client()
        if ttl is not None and ttl <= 0:
            await client.unlink(key)
        else:
            await client.set(key, value, px=None if ttl is None else _px(ttl))

    @wraps_async_errors
    async def aset_many(self, items: Mapping[str, bytes], ttl: float | None) -> None:
        if not items:
            return
        client = self.async_client()
        if ttl is not None and ttl <= 0:
            await client.unlink(*items)
        elif ttl is None:
            await client.mset(dict(items))
        else:
            async with client.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(key, value, px=_px(ttl))
                await pipe.execute()

    @wraps_async_errors
    async def aadd(self, key: str, value: bytes, ttl: float | None) -> bool:
        client = self.async_client()
        if ttl is not None and ttl <= 0:
            return not await client.exists(key)
        script = client.register_script(source("add"))
        return await script(keys=[key], args=[value, _px_arg(ttl), TOMBSTONE]) == 1

    @wraps_async_errors
    async def aset_if_unchanged(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None
    ) -> bool:
        if ttl is not None and ttl <= 0:
            return False
        script = self.async_client().register_script(source("set_if_unchanged"))
        args: list[bytes | str] = [expected or b"", value, _px_arg(ttl)]
        return await script(keys=[key], args=args) == 1

    @wraps_async_errors
    async def acompare_and_set(self, key: str, expected: bytes, value: bytes) -> bool:
        script = self.async_client().register_script(source("compare_and_set"))
        return await script(keys=[key], args=[expected, value]) in (1, 2)

    @wraps_async_errors
    async def atouch(self, key: str, ttl: float | None) -> bool:
        script = self.async_client().register_script(source("touch"))
        return await script(keys=[key], args=[_touch_arg(ttl)]) == 1

    @wraps_async_errors
    async def adelete(self, key: str) -> bool:
        return bool(await self.async_client().unlink(key))

    @wraps_async_errors
    async def adelete_many(self, keys: Sequence[str]) -> int:
        return int(await self.async_client().unlink(*keys)) if keys else 0

    @wraps_async_errors_per_command
    async def aclear(self) -> None:
        self._check_namespace()
        client = self.async_client()
        if self.flush_on_clear:
            await client.flushdb()
            return
        batch: list[str] = []
        async for raw in client.scan_iter(match=self.namespace, count=_BATCH):
            key = _owned_key(raw, self.owns)
            if key is None:
                continue
            batch.append(key)
            if len(batch) >= _BATCH:
                await client.unlink(*batch)
                batch = []
        if batch:
            await client.unlink(*batch)
