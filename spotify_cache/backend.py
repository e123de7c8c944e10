"""``SpotifyCache``: the Django cache API over a value codec and a store.

The backend turns Django keys into store keys, timeouts into TTLs and values
into sealed blobs (``codecs``); the store moves bytes (``stores``).  Keys are
routed to a partition (``routing``, ``partitions``) whose policy picks TTLs,
codec and store; values depend on version records (``stores.versions``) that
invalidation deletes.  It holds no I/O of its own.  The shared plumbing is in
``core.py``, the async twins in ``async_api.py``.  Configure it in
``settings.CACHES``::

    "default": {
        "BACKEND": "spotify_cache.backend.SpotifyCache",
        "LOCATION": "redis://127.0.0.1:6379/0",   # or "memory://"
        "OPTIONS": {"ENCRYPTION_KEYS": ["..."]},
    }
"""

from __future__ import annotations

import functools
import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT

from .async_api import AsyncMethods
from .codecs.framing import TOMBSTONE
from .core import _FLIGHTS, INCR_DEADLINE, MISSING, backoff, is_glob, tombstone
from .exceptions import ContentionError, InvalidValue
from .namespace import glob_escape
from .routing import Route, tag_records

__all__ = ["MISSING", "SpotifyCache", "glob_escape"]


class SpotifyCache(AsyncMethods):
    """A Django cache whose every value is authenticated (and encrypted when keys are
    set), with partitions, tags and race-safe read-through."""

    # -- sync API ----------------------------------------------------------------
    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        skey = self.make_and_validate_key(key, version=version)
        if self._plain:
            blob, codec = self._store.get(skey), self._codec
        else:
            route = self._router.route(key)
            blob, codec = route.store.get(skey), route.codec
        if blob is None:
            return default
        try:  # _open, inlined: this is the hottest call of all
            return codec.decode(skey, blob)
        except InvalidValue as exc:
            self._reject(skey, exc.reason)
            return default

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        mapping = self._keys(keys, version)
        if self._plain:
            return self._collect(self._codec, mapping, self._store.get_many(list(mapping)))
        found: dict[Any, Any] = {}
        for route, group in self._by_route(mapping).values():
            found.update(self._collect(route.codec, group, route.store.get_many(list(group))))
        return found

    def has_key(self, key: Any, version: int | None = None) -> bool:
        """True only if the value would be returned by ``get`` (authentic, fresh, unexpired)."""
        skey = self.make_and_validate_key(key, version=version)
        route = self._router.route(key)
        return self._open(route.codec, skey, route.store.get(skey)) is not MISSING

    def set(
        self,
        key: Any,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> None:
        """Store ``value``; ``tags`` name groups that ``invalidate_tags`` drops at once."""
        skey = self.make_and_validate_key(key, version=version)
        if self._plain and not tags:
            ttl = self.get_backend_timeout(timeout)
            self._store.set(skey, self._codec.encode(skey, value, expires_in=ttl), ttl)
            return
        route = self._router.route(key)
        ttl = self._ttl(route, timeout)
        route.store.set(skey, self._sealed(route, skey, value, ttl, tags), ttl)

    def set_many(
        self,
        data: Mapping[Any, Any],
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> list[Any]:
        for route, items, ttl in self._sealed_groups(data, timeout, version, tags):
            route.store.set_many(items, ttl)
        return []

    def _sealed_groups(
        self,
        data: Mapping[Any, Any],
        timeout: Any,
        version: int | None,
        tags: Iterable[str] | None,
    ) -> Iterator[tuple[Route, dict[str, bytes], float | None]]:
        """``(route, {store key: blob}, ttl)`` per partition of ``data``."""
        mapping = {self.make_and_validate_key(k, version=version): k for k in data}
        for route, group in self._by_route(mapping).values():
            ttl = self._ttl(route, timeout)
            stamp = self._router.stamp(self._router.records(route, tags), ttl)
            encode = functools.partial(route.codec.encode, stamp=stamp, expires_in=ttl)
            yield route, {s: encode(s, data[k]) for s, k in group.items()}, ttl

    def add(
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
        blob = self._sealed(route, skey, value, ttl, tags, unique=True)
        return route.store.add(skey, blob, ttl) or self._replace_dead(route, skey, blob, ttl)

    def _replace_dead(self, route: Route, skey: str, blob: bytes, ttl: float | None) -> bool:
        """``add`` found a blob: take the key anyway if that blob reads as a miss
        (invalidated, or refused), exactly as ``get`` would see it."""
        held = route.store.get_for_update(skey)
        if held is not None and self._open(route.codec, skey, held) is not MISSING:
            return False
        return route.store.set_if_unchanged(skey, held, blob, ttl)

    def get_or_set(
        self,
        key: Any,
        default: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        tags: Iterable[str] | None = None,
    ) -> Any:
        """The cached value, or ``default`` (called if callable) stored and returned.

        Race-safe: the result is written back only if the key still holds what
        this call read, and it is stamped with the versions current *before*
        the load, so an invalidation of the key, its tags or its partition
        during the load is never overwritten by what the loader computed.
        Stampede-safe (``stampede``): one loader per key per process (and per
        cluster with ``STAMPEDE["LOCK"]``), early refresh, serve-stale."""
        skey = self.make_and_validate_key(key, version=version)
        route = self._router.route(key)
        seen = route.store.get(skey)
        value, meta = self._open_meta(route.codec, skey, seen)
        flight = self._flight_scope + skey
        if value is not MISSING:
            if self._fresh_enough(skey, meta):
                return value
            if self._stampede.serves_stale(meta):  # serve stale, refresh behind
                load = functools.partial(self._load, route, skey, seen, default, timeout, tags)
                _FLIGHTS.refresh_in_background(flight, load)
                return value
        load = functools.partial(self._load, route, skey, seen, default, timeout, tags)
        return _FLIGHTS.run(flight, load, self._stampede.wait)

    def _load(
        self,
        route: Route,
        skey: str,
        seen: bytes | None,
        default: Any,
        timeout: Any,
        tags: Iterable[str] | None,
    ) -> Any:
        ttl = self._ttl(route, timeout)
        stamp = self._written_stamp(route, tags, ttl)
        if self._stampede.lock and not self._lead(route, skey):
            found = self._await_other_loader(route, skey, seen)
            if found is not MISSING:
                return found
        began = time.perf_counter()
        try:
            value = default() if callable(default) else default
        finally:
            if self._stampede.lock:
                route.store.delete(self._lock_key(skey))
        delta = time.perf_counter() - began
        written = self._write_back(route, skey, value, stamp, ttl, delta)
        if written is not None:
            route.store.set_if_unchanged(skey, seen, *written)
        return value

    def _lead(self, route: Route, skey: str) -> bool:
        """Take the cross-process loading lock of ``skey`` (``SET NX PX``)."""
        return route.store.add(self._lock_key(skey), os.urandom(8), self._stampede.lock_timeout)

    def _await_other_loader(self, route: Route, skey: str, seen: bytes | None) -> Any:
        """Poll for the value another process is loading, up to ``WAIT`` seconds."""
        deadline = time.monotonic() + self._stampede.wait
        while time.monotonic() < deadline:
            time.sleep(0.02)
            blob = route.store.get_for_update(skey)
            if blob != seen:
                value = self._open(route.codec, skey, blob)
                if value is not MISSING:
                    return value
            if not route.store.get_for_update(self._lock_key(skey)):
                break  # the other loader gave up without writing: load here
        return MISSING

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        """A new TTL for ``key``; ``False`` (and nothing done) when its value reads
        as a miss (absent, invalidated or refused), exactly as ``has_key`` says."""
        skey = self.make_and_validate_key(key, version=version)
        route = self._router.route(key)
        held = route.store.get_for_update(skey)
        if self._open(route.codec, skey, held) is MISSING:
            return False
        ttl = self._ttl(route, timeout)
        if route.codec.seal_expiry and (ttl is None or ttl > 0):  # the expiry is sealed too
            blob = self._retimed(route, skey, held, ttl)  # type: ignore[arg-type]
            if blob is None:
                return False
            return route.store.set_if_unchanged(skey, held, blob, ttl)
        return route.store.touch(skey, ttl)

    def delete(self, key: Any, version: int | None = None) -> bool:
        skey = self.make_and_validate_key(key, version=version)
        return self._router.route(key).store.delete(skey)

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        mapping = self._keys(keys, version)
        for route, group in self._by_route(mapping).values():
            route.store.delete_many(list(group))

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        """Add ``delta`` atomically (compare-and-set), keeping the TTL and the
        stamp; ``ValueError`` if absent or invalidated.  Safe to retry: a
        compare-and-set whose reply was lost recognises its own write."""
        skey = self.make_and_validate_key(key, version=version)
        route = self._router.route(key)
        deadline = time.monotonic() + INCR_DEADLINE
        with self._incr_lock(skey):
            for attempt in itertools.count():
                blob = route.store.get_for_update(skey)
                new_value, new_blob = self._incremented(route, key, skey, blob, delta)
                if route.store.compare_and_set(skey, blob, new_blob):  # type: ignore[arg-type]
                    return new_value
                if time.monotonic() > deadline:
                    break
                time.sleep(backoff(attempt))  # another process won the race
        raise ContentionError(f"incr of {key!r} lost every race for {INCR_DEADLINE} s")

    def clear(self) -> None:
        """Remove this cache's keys only (never the whole database unless ``CLEAR="flushdb"``)."""
        for store in self._router.stores:
            store.clear()
        self._router.forget_record_copies()

    def close(self, **kwargs: Any) -> None:
        for store in self._router.stores:
            store.close()

    # -- invalidation ------------------------------------------------------------------
    def invalidate(
        self,
        key: Any,
        *,
        version: int | None = None,
        glob: bool | None = None,
        cause: str | None = None,
        reason: str = "",
    ) -> int:
        """Invalidate a key, or every key matching a glob (``spotify:user:123:*``,
        Redis glob syntax, this cache's keys only); return how many held a value.

        A string with an unescaped ``*``, ``?`` or ``[`` is a glob unless
        ``glob=False``.  A key is replaced by a short-lived marker rather than
        deleted, so a read-through loader that started before cannot write back."""
        if glob if glob is not None else (isinstance(key, str) and is_glob(key)):
            count = self.delete_pattern(key, version=version)
            self._announce("glob", (str(key),), count, cause, reason)
            return count
        skey = self.make_and_validate_key(key, version=version)
        store = self._router.route(key).store
        held = store.get_for_update(skey)
        store.set(skey, tombstone(), self._grace)
        count = int(held is not None and not held.startswith(TOMBSTONE))
        self._announce("key", (str(key),), count, cause, reason)
        return count

    def invalidate_tags(self, *tags: str, cause: str | None = None, reason: str = "") -> None:
        """Invalidate every value written with any of ``tags``: one delete per tag."""
        self._router.versions.drop(tag_records(tags))
        self._announce("tag", tags, None, cause, reason)

    def invalidate_partition(
        self, name: str, *, cause: str | None = None, reason: str = ""
    ) -> None:
        """Invalidate every value of partition ``name``: one delete."""
        self._router.versions.drop([self._partition_record(name)])
        self._announce("partition", (name,), None, cause, reason)

    # -- extras (django-redis style) ------------------------------------------------
    def ttl(self, key: Any, version: int | None = None) -> float | None:
        """Seconds ``key`` has left: ``None`` if it never expires, ``0`` if it is
        absent (or its value reads as a miss, or expired when it was sealed to)."""
        skey = self.make_and_validate_key(key, version=version)
        route = self._router.route(key)
        left = route.store.ttl(skey)
        if left is not None and left <= 0:
            return 0.0
        if route.codec.seal_expiry:
            left = self._sealed_ttl(route, skey, left)
        return None if left is None else max(0.0, left)

    def expire(self, key: Any, timeout: Any, version: int | None = None) -> bool:
        """Set a new timeout on ``key``; same as ``touch``."""
        return self.touch(key, timeout, version=version)

    def persist(self, key: Any, version: int | None = None) -> bool:
        """Make ``key`` never expire."""
        return self.touch(key, None, version=version)

    def iter_keys(self, pattern: str, version: int | None = None) -> Iterator[Any]:
        """Caller keys (without prefix and version) matching the glob ``pattern``
        (Redis syntax on every store; only keys this cache made, at ``version``)."""
        glob, seen = self.namespace.pattern(pattern, version), set()
        for store in self._router.stores:  # partition stores on one Redis see the same keys
            for key in store.iter_keys(glob):
                if key not in seen:
                    seen.add(key)
                    yield self.namespace.strip(key, version)

    def delete_pattern(self, pattern: str, version: int | None = None) -> int:
        """Delete keys matching the glob ``pattern`` (SCAN, never KEYS); return the count."""
        glob = self.namespace.pattern(pattern, version)
        return sum(store.delete_matching(glob) for store in self._router.stores)

    def lock(self, key: Any, version: int | None = None, **kwargs: Any) -> Any:
        """A distributed lock (``redis.lock.Lock``) named after ``key``; Redis stores only."""
        return self.get_client().lock(self.make_and_validate_key(key, version=version), **kwargs)

    def get_client(self, write: bool = True) -> Any:
        """The raw client of the store (``redis.Redis``), for what the API does not cover."""
        client: Callable[..., Any] | None = getattr(self._store, "client", None)
        if client is None:
            raise NotImplementedError(f"{type(self._store).__name__} has no raw client")
        return client(write=write)
