"""``CacheCore``: what the sync and async halves of ``SpotifyCache`` share.

Keys (Django's format, inline), routes (partition, store, codec), timeouts,
opening blobs (a refused one is counted, logged and signalled; an invalidated
one is an ordinary miss) and announcing invalidations.  No I/O of its own.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache, default_key_func

from . import options as config
from . import stampede, timeouts
from .codecs import ValueCodec, stamps
from .codecs.framing import TOMBSTONE
from .exceptions import InvalidValue
from .namespace import Namespace
from .partitions import Partition
from .routing import Route, Router
from .signals import invalidated, value_rejected
from .stores import Store, failover

logger = logging.getLogger("spotify_cache.security")

MISSING: Any = object()
#: Seconds an ``incr`` keeps retrying lost compare-and-set races (with other
#: processes: threads of one process take turns) before ``ContentionError``.
INCR_DEADLINE = 5.0
_INCR_LOCKS = [threading.Lock() for _ in range(64)]
#: Loads under way in this process, shared by every thread's backend instance.
_FLIGHTS = stampede.Flights()
_ASYNC_FLIGHTS = stampede.AsyncFlights()
#: Seconds an invalidated key keeps its marker (read-through loaders slower
#: than this may still write back what they loaded before the invalidation).
INVALIDATION_GRACE = 60.0
_GLOB = re.compile(r"(?<!\\)[*?\[]")
_rejections: dict[tuple[str, str], Counter[str]] = {}
_rejections_lock = threading.Lock()


# Keys Django's memcached-portability warnings have nothing to say about:
# at most 250 characters, none of them a control character or a space.
_PLAIN_KEY = re.compile(r"[^\x00-\x20\x7f]{0,250}")


def backoff(attempt: int) -> float:
    """Seconds to wait after losing the ``attempt``-th race: jittered, growing to 20 ms."""
    return random.uniform(0, min(0.02, 0.0005 * 2**attempt))


def is_glob(pattern: str) -> bool:
    """Whether ``pattern`` has an unescaped glob metacharacter."""
    return _GLOB.search(pattern) is not None


def tombstone() -> bytes:
    """A fresh invalidation marker (unique, so a loader can tell two apart)."""
    return TOMBSTONE + os.urandom(8)


def _find_alias(location: Any, params: Mapping[str, Any]) -> str | None:
    """The ``CACHES`` alias these params came from (Django passes a copy of its dict)."""
    from django.conf import settings

    if not settings.configured:
        return None
    options = params.get("OPTIONS")
    for alias, entry in settings.CACHES.items():
        if options is not None and entry.get("OPTIONS") is options:
            return str(alias)
        same = entry.get("LOCATION", "") == location and entry.get("OPTIONS") == options
        if same and all(entry.get(k) == v for k, v in params.items() if k != "OPTIONS"):
            return str(alias)
    return None


class CacheCore(BaseCache):
    """Keys, routes, timeouts and the value codec: what the sync API
    (``backend.SpotifyCache``) and the async API (``async_api``) share."""

    def __init__(self, location: Any, params: dict[str, Any]) -> None:
        super().__init__(params)
        options = params.get("OPTIONS") or {}
        cfg = config.read_config(location, options)
        self._codec = config.codec(options)
        self.namespace = Namespace(lambda key, version: self.make_key(key, version=version))
        opened = cfg.store_cls.open(cfg.location, options, namespace=self.namespace.glob)
        self._store: Store = failover.wrap(opened, options)  # fail-open, as OPTIONS asks
        self._router = Router(cfg.location, options, self._store, self._codec, self.make_key)
        for store in self._router.stores:  # SCANs skip keys other caches' prefixes can make
            getattr(store, "remote", store).owns = self.namespace.owns
            if hasattr(store, "admit"):  # a near-cache keeps only blobs that authenticate
                store.admit = self._codec.authentic
        self._plain = not self._router.ordered and not self._router.partitioned
        self._grace = float(options.get("INVALIDATION_GRACE", INVALIDATION_GRACE))
        self._stampede = stampede.read_policy(options)
        self._flight_scope = f"{location}\x00"
        self.alias = _find_alias(location, params)
        # Django's own key format is built inline unless a subclass changes make_key.
        self._django_make_key = type(self).make_key is BaseCache.make_key
        with _rejections_lock:
            self.rejections = _rejections.setdefault((str(location), self.key_prefix), Counter())

    # -- plumbing --------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The store holding this cache's blobs (the default partition's)."""
        return self._store

    @property
    def partitions(self) -> Mapping[str, Partition]:
        """Every partition of this cache by name, ``default`` included."""
        return self._router.partitions

    def partition_of(self, key: Any) -> str:
        """The name of the partition ``key`` (a caller's key) falls into."""
        return self._router.route(key).partition.name

    def make_and_validate_key(self, key: Any, version: int | None = None) -> str:
        """Django's key and portability warnings, with a fast path for plain keys."""
        if self.key_func is default_key_func and self._django_make_key:
            # Django's make_key with default_key_func, without the two calls
            skey = "%s:%s:%s" % (self.key_prefix, self.version if version is None else version, key)  # noqa: UP031
        else:
            skey = self.make_key(key, version=version)
        if _PLAIN_KEY.fullmatch(skey) is None:
            self.validate_key(skey)
        return skey

    def get_backend_timeout(self, timeout: Any = DEFAULT_TIMEOUT) -> float | None:
        """Seconds to live: ``None`` forever, ``<= 0`` expire at once."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        return timeouts.seconds(timeout)

    def _ttl(self, route: Route, timeout: Any) -> float | None:
        return route.partition.ttl(timeout, self.default_timeout)

    def _open(self, codec: ValueCodec, store_key: str, blob: bytes | None) -> Any:
        if blob is None:
            return MISSING
        try:
            return codec.decode(store_key, blob)
        except InvalidValue as exc:
            self._reject(store_key, exc.reason)
            return MISSING

    def _reject(self, store_key: str, reason: str) -> None:
        if reason == "stale":  # invalidated: an ordinary miss, not an attack
            return
        self.rejections[reason] += 1
        logger.warning(
            "cache value rejected (%s) for key %r",
            reason,
            store_key,
            extra={"cache_key": store_key, "reason": reason},
        )
        value_rejected.send(sender=type(self), cache=self, key=store_key, reason=reason)

    def _keys(self, keys: Iterable[Any], version: int | None) -> dict[str, Any]:
        return {self.make_and_validate_key(k, version=version): k for k in keys}

    def _by_route(self, mapping: Mapping[str, Any]) -> dict[str, tuple[Route, dict[str, Any]]]:
        """``{store key: caller key}`` grouped by partition."""
        groups: dict[str, tuple[Route, dict[str, Any]]] = {}
        for skey, key in mapping.items():
            route = self._router.route(key)
            groups.setdefault(route.partition.name, (route, {}))[1][skey] = key
        return groups

    def _collect(
        self, codec: ValueCodec, mapping: Mapping[str, Any], blobs: Sequence[bytes | None]
    ) -> dict[Any, Any]:
        found = {}
        for (skey, key), blob in zip(mapping.items(), blobs, strict=True):
            value = self._open(codec, skey, blob)
            if value is not MISSING:
                found[key] = value
        return found

    def _sealed(
        self,
        route: Route,
        skey: str,
        value: Any,
        ttl: float | None,
        tags: Iterable[str] | None,
        unique: bool = False,
    ) -> bytes:
        stamp = self._router.stamp(self._router.records(route, tags), ttl)
        return route.codec.encode(skey, value, stamp, unique=unique, expires_in=ttl)

    def _incremented(
        self, route: Route, key: Any, skey: str, blob: bytes | None, delta: int
    ) -> tuple[Any, bytes]:
        if blob is None:
            raise ValueError(f"Key '{key}' not found")
        try:
            value = route.codec.decode(skey, blob)
        except InvalidValue as exc:
            if exc.reason == "stale":  # invalidated: gone, as far as callers know
                raise ValueError(f"Key '{key}' not found") from None
            self._reject(skey, exc.reason)
            raise ValueError(
                f"Key '{key}' holds a value that was rejected ({exc.reason}): it reads as a "
                "miss and cannot be incremented; set it again"
            ) from None
        new_value = value + delta
        stamp = route.codec.stamp_of(skey, blob) if blob else b""
        # unique: a retried compare-and-set must recognise its own write, never
        # another caller's identical one
        return new_value, route.codec.encode(skey, new_value, stamp, unique=True)

    def _incr_lock(self, skey: str) -> threading.Lock:
        """One of a few locks per process: threads of one process incrementing
        the same key take turns instead of losing compare-and-set races."""
        return _INCR_LOCKS[hash(skey) % len(_INCR_LOCKS)]

    def _open_meta(
        self, codec: ValueCodec, store_key: str, blob: bytes | None
    ) -> tuple[Any, stamps.Meta | None]:
        """``_open`` with the read-through record, past a serve-stale expiry too."""
        if blob is None:
            return MISSING, None
        try:
            return codec.decode_meta(store_key, blob)
        except InvalidValue as exc:
            self._reject(store_key, exc.reason)
            return MISSING, None

    def _fresh_enough(self, skey: str, meta: stamps.Meta | None) -> bool:
        """Whether a hit of ``get_or_set`` is served as is: not past its expiry
        (serve-stale window) and not picked for an early refresh (XFetch), or
        picked while another caller of this process already refreshes it."""
        policy = self._stampede
        if policy.expired(meta):
            return False
        return not policy.refresh_early(meta) or _FLIGHTS.busy(self._flight_scope + skey)

    def _written_stamp(self, route: Route, tags: Iterable[str] | None, ttl: float | None) -> bytes:
        """The stamp a load is written with, taken before the load starts."""
        return self._router.stamp(self._router.records(route, tags), ttl)

    def _write_back(
        self, route: Route, skey: str, value: Any, stamp: bytes, ttl: float | None, delta: float
    ) -> tuple[bytes, float | None] | None:
        """The blob and store TTL to write a value loaded in ``delta`` s with, or
        ``None`` if an invalidation raced the load (its stamp is no longer current)."""
        if not self._still_current(stamp):
            return None
        meta = self._stampede.meta(ttl, delta, hard=route.codec.seal_expiry)
        if meta is not None:
            stamp = stamps.with_meta(stamp, meta)
        return route.codec.encode(skey, value, stamp), self._stampede.store_ttl(ttl)

    def _retimed(self, route: Route, skey: str, held: bytes, ttl: float | None) -> bytes | None:
        """``held`` sealed again with a new expiry (``touch`` under ``seal_expiry``);
        ``None`` if it went stale meanwhile (an invalidation since it was read)."""
        try:
            value = route.codec.decode(skey, held)
            stamp = stamps.without_meta(route.codec.stamp_of(skey, held))
        except InvalidValue:
            return None
        return route.codec.encode(skey, value, stamp, expires_in=ttl)

    def _sealed_ttl(self, route: Route, skey: str, left: float | None) -> float | None:
        """What ``ttl()`` reports: the store's TTL, or the sealed expiry if sooner
        (a blob put back without its TTL still expires when it was sealed to)."""
        value, meta = self._open_meta(route.codec, skey, route.store.get_for_update(skey))
        if value is MISSING or (meta is not None and meta.hard and meta.expires_at <= time.time()):
            return 0.0
        if meta is None or not meta.hard:
            return left
        sealed = meta.expires_at - time.time()
        return sealed if left is None else min(left, sealed)

    def _lock_key(self, skey: str) -> str:
        return f"{skey}\x00loading"

    def _still_current(self, stamp: bytes) -> bool:
        """Whether the records a load was stamped with are still current (cheap,
        local): if not, the load raced an invalidation and is not written."""
        if not stamp:
            return True
        return self._router.stamp_valid(stamps.split(stamp)[0])

    def _partition_record(self, name: str) -> str:
        partition = self._router.named(name)
        if not self._router.partitioned:
            raise ValueError(
                'invalidate_partition needs OPTIONS["PARTITIONS"] (even {}): values of a '
                "cache without it carry no partition version"
            )
        return partition.record

    def _announce(
        self, kind: str, targets: Sequence[str], count: int | None, cause: str | None, reason: str
    ) -> None:
        invalidated.send(
            sender=type(self),
            cache=self,
            alias=self.alias,
            kind=kind,
            targets=tuple(targets),
            count=count,
            cause=cause or kind,
            reason=reason,
        )
