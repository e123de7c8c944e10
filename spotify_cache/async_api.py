"""The native-async half of ``SpotifyCache``: each method mirrors its sync twin
in ``backend.py`` with the store's ``a*`` methods (native on Redis, never a
thread).  Mixed into the backend; it holds no state of its own."""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT

from .codecs.framing import TOMBSTONE
from .core import (
    _ASYNC_FLIGHTS,
    INCR_DEADLINE,
    MISSING,
    CacheCore,
    backoff,
    is_glob,
    tombstone,
)
from .exceptions import ContentionError
from .routing import Route, tag_records

_BEHIND: set[asyncio.Task[Any]] = set()  # refreshes running behind their callers


def _refresh_behind(refresh: Any) -> None:
    """Run a serve-stale refresh as a task of the running loop (kept referenced)."""
    task = asyncio.ensure_future(refresh)
    _BEHIND.add(task)
    task.add_done_callback(_BEHIND.discard)


class AsyncMethods(CacheCore):
    """``aget``, ``aset``, ... and the async invalidation API."""

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        skey = self.make_and_validate_key(key, version=version)
        route = self._router.route(key)
        value = self._open(route.codec, skey, await route.store.aget(skey))
        return default if value is MISSING else value

    async def aget_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        mapping = self._keys(keys, version)
        found: dict[Any, Any] = {}
        for route, group in self._by_route(mapping).values():
            blobs = await route.store.aget_many(list(group))
            found.update(self._collect(route.codec, group, blobs))
        return found

    async def ahas_key(self, key: Any, version: int | None = None) -> bool:
        skey = self.make_and_validate_key(key, version=version)
        route = self._router.route(key)
        return self._open(route.codec, skey, await route.store.aget(skey)) is not MISSING

    async def _asealed(
        self,
        route: Route,
        skey: str,
        value: Any,
        ttl: float | None,
        tags: Iterable[str] | None,
        unique: bool = False,
    ) -> bytes:
        stamp = await self._router.astamp(self._router.records(route, tags), ttl)
        return route.codec.encode(skey, value, stamp, unique=unique, expires_in=ttl)

    async def aset(
        self,
        key: Any,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> None:
        skey = self.make_and_validate_key(key, version=version)
        route = self._router.route(key)
        ttl = self._ttl(route, timeout)
        await route.store.aset(skey, await self._asealed(route, skey, value, ttl, tags), ttl)

    async def aset_many(
        self,
        data: Mapping[Any, Any],
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> list[Any]:
        mapping = {self.make_and_validate_key(k, version=version): k for k in data}
        for route, group in self._by_route(mapping).values():
            ttl = self._ttl(route, timeout)
            stamp = await self._router.astamp(self._router.records(route, tags), ttl)
            items = {
                s: route.codec.encode(s, data[k], stamp, expires_in=ttl) for s, k in group.items()
            }
            await route.store.aset_many(items, ttl)
        return []

    async def aadd(
        self,
        key: Any,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> bool:
        skey = self.make_and_validate_key(key, version=version)
        route = self._router.route(key)
        ttl = self._ttl(route, timeout)
        blob = await self._asealed(route, skey, value, ttl, tags, unique=True)
        if await route.store.aadd(skey, blob, ttl):
            return True
        held = await route.store.aget_for_update(skey)  # as in the sync ``_replace_dead``
        if held is not None and self._open(route.codec, skey, held) is not MISSING:
            return False
        return await route.store.aset_if_unchanged(skey, held, blob, ttl)

    async def aget_or_set(
        self,
        key: Any,
        default: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> Any:
        """``get_or_set``, race- and stampede-safe in the same ways (one loading
        task per key per event loop); an async ``default`` is awaited."""
        skey = self.make_and_validate_key(key, version=version)
        route = self._router.route(key)
        seen = await route.store.aget(skey)
        value, meta = self._open_meta(route.codec, skey, seen)
        load = functools.partial(self._aload, route, skey, seen, default, timeout, tags)
        if value is not MISSING:
            if self._fresh_enough(skey, meta):
                return value
            if self._stampede.serves_stale(meta):  # serve stale, refresh behind (once per loop)
                flight = self._flight_scope + skey
                _refresh_behind(_ASYNC_FLIGHTS.run(flight, load, self._stampede.wait))
                return value
        return await _ASYNC_FLIGHTS.run(self._flight_scope + skey, load, self._stampede.wait)

    async def _aload(
        self,
        route: Route,
        skey: str,
        seen: bytes | None,
        default: Any,
        timeout: Any,
        tags: Iterable[str] | None,
    ) -> Any:
        ttl = self._ttl(route, timeout)
        stamp = await self._router.astamp(self._router.records(route, tags), ttl)
        began = time.perf_counter()
        value = default() if callable(default) else default
        if hasattr(value, "__await__"):
            value = await value
        written = self._write_back(route, skey, value, stamp, ttl, time.perf_counter() - began)
        if written is not None:
            await route.store.aset_if_unchanged(skey, seen, *written)
        return value

    async def atouch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        skey = self.make_and_validate_key(key, version=version)
        route = self._router.route(key)
        held = await route.store.aget_for_update(skey)
        if self._open(route.codec, skey, held) is MISSING:
            return False
        ttl = self._ttl(route, timeout)
        if route.codec.seal_expiry and (ttl is None or ttl > 0):  # the expiry is sealed too
            blob = self._retimed(route, skey, held, ttl)  # type: ignore[arg-type]
            if blob is None:
                return False
            return await route.store.aset_if_unchanged(skey, held, blob, ttl)
        return await route.store.atouch(skey, ttl)

    async def adelete(self, key: Any, version: int | None = None) -> bool:
        skey = self.make_and_validate_key(key, version=version)
        return await self._router.route(key).store.adelete(skey)

    async def adelete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        for route, group in self._by_route(self._keys(keys, version)).values():
            await route.store.adelete_many(list(group))

    async def aincr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        skey = self.make_and_validate_key(key, version=version)
        route = self._router.route(key)
        deadline = time.monotonic() + INCR_DEADLINE
        for attempt in itertools.count():
            blob = await route.store.aget_for_update(skey)
            new_value, new_blob = self._incremented(route, key, skey, blob, delta)
            if await route.store.acompare_and_set(skey, blob, new_blob):  # type: ignore[arg-type]
                return new_value
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(backoff(attempt))
        raise ContentionError(f"incr of {key!r} lost every race for {INCR_DEADLINE} s")

    async def aclear(self) -> None:
        for store in self._router.stores:
            await store.aclear()
        self._router.forget_record_copies()

    async def aclose(self, **kwargs: Any) -> None:
        for store in self._router.stores:
            await store.aclose()

    # -- invalidation ------------------------------------------------------------------
    async def ainvalidate(
        self,
        key: Any,
        *,
        version: int | None = None,
        glob: bool | None = None,
        cause: str | None = None,
        reason: str = "",
    ) -> int:
        """``invalidate``; globs run the sync SCAN (it is bounded by batches)."""
        if glob if glob is not None else (isinstance(key, str) and is_glob(key)):
            count = self.delete_pattern(key, version=version)  # type: ignore[attr-defined]
            self._announce("glob", (str(key),), count, cause, reason)
            return int(count)
        skey = self.make_and_validate_key(key, version=version)
        store = self._router.route(key).store
        held = await store.aget_for_update(skey)
        await store.aset(skey, tombstone(), self._grace)
        count = int(held is not None and not held.startswith(TOMBSTONE))
        self._announce("key", (str(key),), count, cause, reason)
        return count

    async def ainvalidate_tags(
        self, *tags: str, cause: str | None = None, reason: str = ""
    ) -> None:
        await self._router.versions.adrop(tag_records(tags))
        self._announce("tag", tags, None, cause, reason)

    async def ainvalidate_partition(
        self, name: str, *, cause: str | None = None, reason: str = ""
    ) -> None:
        await self._router.versions.adrop([self._partition_record(name)])
        self._announce("partition", (name,), None, cause, reason)
