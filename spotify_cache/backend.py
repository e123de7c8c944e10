"""``SpotifyCache``: the Django cache API over a value codec and a store.

The backend turns Django keys into store keys, timeouts into TTLs and values
into sealed blobs (``codecs``); the store moves bytes (``stores``).  It holds
no I/O of its own.  Configure it in ``settings.CACHES``::

    "default": {
        "BACKEND": "spotify_cache.backend.SpotifyCache",
        "LOCATION": "redis://127.0.0.1:6379/0",   # or "memory://"
        "OPTIONS": {"ENCRYPTION_KEYS": ["..."]},
    }
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache, default_key_func

from . import options as config
from .exceptions import ContentionError, InvalidValue
from .signals import value_rejected
from .stores import Store

logger = logging.getLogger("spotify_cache.security")

MISSING: Any = object()
CAS_ATTEMPTS = 32
_KEY_MARK, _VERSION_MARK = "\x00spotify-key\x00", "\x00spotify-version\x00"
_rejections: dict[tuple[str, str], Counter[str]] = {}
_rejections_lock = threading.Lock()


# Keys Django's memcached-portability warnings have nothing to say about:
# at most 250 characters, none of them a control character or a space.
_PLAIN_KEY = re.compile(r"[^\x00-\x20\x7f]{0,250}")


def glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class SpotifyCache(BaseCache):
    """A Django cache whose every value is authenticated (and encrypted when keys are set)."""

    def __init__(self, location: Any, params: dict[str, Any]) -> None:
        super().__init__(params)
        options = params.get("OPTIONS") or {}
        cfg = config.read_config(location, options)
        self._codec = config.codec(options)
        self._store: Store = cfg.store_cls.open(cfg.location, options, namespace=self._namespace())
        # Django's own key format is built inline unless a subclass changes make_key.
        self._django_make_key = type(self).make_key is BaseCache.make_key
        with _rejections_lock:
            self.rejections = _rejections.setdefault((str(location), self.key_prefix), Counter())

    # -- plumbing --------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The store holding this cache's blobs."""
        return self._store

    def _namespace(self) -> str:
        """A glob matching every key this cache can make, for ``clear()``; "" if unknown."""
        try:
            sample = self.make_key(_KEY_MARK, version=_VERSION_MARK)  # type: ignore[arg-type]
        except Exception:
            return ""
        if _KEY_MARK not in sample or _VERSION_MARK not in sample:
            return ""
        escaped = glob_escape(sample)
        return escaped.replace(glob_escape(_KEY_MARK), "*").replace(glob_escape(_VERSION_MARK), "*")

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
        return None if timeout is None else float(timeout)

    def _encode(self, store_key: str, value: Any) -> bytes:
        return self._codec.encode(store_key, value)

    def _decode(self, store_key: str, blob: bytes | None) -> Any:
        if blob is None:
            return MISSING
        try:
            return self._codec.decode(store_key, blob)
        except InvalidValue as exc:
            self._reject(store_key, exc.reason)
            return MISSING

    def _reject(self, store_key: str, reason: str) -> None:
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

    # -- sync API ----------------------------------------------------------------
    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        skey = self.make_and_validate_key(key, version=version)
        blob = self._store.get(skey)
        if blob is None:
            return default
        try:  # _decode, inlined: this is the hottest call of all
            return self._codec.decode(skey, blob)
        except InvalidValue as exc:
            self._reject(skey, exc.reason)
            return default

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        mapping = self._keys(keys, version)
        blobs = self._store.get_many(list(mapping))
        return self._collect(mapping, blobs)

    def _collect(self, mapping: Mapping[str, Any], blobs: list[bytes | None]) -> dict[Any, Any]:
        found = {}
        for (skey, key), blob in zip(mapping.items(), blobs, strict=True):
            value = self._decode(skey, blob)
            if value is not MISSING:
                found[key] = value
        return found

    def has_key(self, key: Any, version: int | None = None) -> bool:
        """True only if the value would be returned by ``get`` (authentic, unexpired)."""
        skey = self.make_and_validate_key(key, version=version)
        return self._decode(skey, self._store.get(skey)) is not MISSING

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        skey = self.make_and_validate_key(key, version=version)
        self._store.set(skey, self._encode(skey, value), self.get_backend_timeout(timeout))

    def set_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        items = self._encode_many(data, version)
        self._store.set_many(items, self.get_backend_timeout(timeout))
        return []

    def _encode_many(self, data: Mapping[Any, Any], version: int | None) -> dict[str, bytes]:
        items = {}
        for key, value in data.items():
            skey = self.make_and_validate_key(key, version=version)
            items[skey] = self._encode(skey, value)
        return items

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        skey = self.make_and_validate_key(key, version=version)
        return self._store.add(skey, self._encode(skey, value), self.get_backend_timeout(timeout))

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        skey = self.make_and_validate_key(key, version=version)
        return self._store.touch(skey, self.get_backend_timeout(timeout))

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._store.delete(self.make_and_validate_key(key, version=version))

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        self._store.delete_many(list(self._keys(keys, version)))

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        """Add ``delta`` atomically (compare-and-set), keeping the TTL; ``ValueError`` if absent."""
        skey = self.make_and_validate_key(key, version=version)
        for _ in range(CAS_ATTEMPTS):
            blob = self._store.get_for_update(skey)
            new_value, new_blob = self._incremented(key, skey, blob, delta)
            if self._store.compare_and_set(skey, blob, new_blob):  # type: ignore[arg-type]
                return new_value
        raise ContentionError(f"incr of {key!r} lost {CAS_ATTEMPTS} races in a row")

    def _incremented(
        self, key: Any, skey: str, blob: bytes | None, delta: int
    ) -> tuple[Any, bytes]:
        value = self._decode(skey, blob)
        if value is MISSING:
            raise ValueError(f"Key '{key}' not found")
        new_value = value + delta
        return new_value, self._encode(skey, new_value)

    def clear(self) -> None:
        """Remove this cache's keys only (never the whole database unless ``CLEAR="flushdb"``)."""
        self._store.clear()

    def close(self, **kwargs: Any) -> None:
        self._store.close()

    # -- extras (django-redis style) ------------------------------------------------
    def ttl(self, key: Any, version: int | None = None) -> float | None:
        """Seconds ``key`` has left: ``None`` if it never expires, ``0`` if it is absent."""
        left = self._store.ttl(self.make_and_validate_key(key, version=version))
        return None if left is None else max(0.0, left)

    def expire(self, key: Any, timeout: Any, version: int | None = None) -> bool:
        """Set a new timeout on ``key``; same as ``touch``."""
        return self.touch(key, timeout, version=version)

    def persist(self, key: Any, version: int | None = None) -> bool:
        """Make ``key`` never expire."""
        return self.touch(key, None, version=version)

    def iter_keys(self, pattern: str, version: int | None = None) -> Iterator[Any]:
        """Caller keys (without prefix and version) matching the glob ``pattern``."""
        skey = self.make_key(pattern, version=version)
        head = len(self.make_key("", version=version))
        for key in self._store.iter_keys(skey):
            yield key[head:]

    def delete_pattern(self, pattern: str, version: int | None = None) -> int:
        """Delete keys matching the glob ``pattern`` (SCAN, never KEYS); return the count."""
        return self._store.delete_matching(self.make_key(pattern, version=version))

    def lock(self, key: Any, version: int | None = None, **kwargs: Any) -> Any:
        """A distributed lock (``redis.lock.Lock``) named after ``key``; Redis stores only."""
        return self.get_client().lock(self.make_and_validate_key(key, version=version), **kwargs)

    def get_client(self, write: bool = True) -> Any:
        """The raw client of the store (``redis.Redis``), for what the API does not cover."""
        client = getattr(self._store, "client", None)
        if client is None:
            raise NotImplementedError(f"{type(self._store).__name__} has no raw client")
        return client(write=write)

    # -- async API (native on stores with native async) -------------------------------
    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        skey = self.make_and_validate_key(key, version=version)
        value = self._decode(skey, await self._store.aget(skey))
        return default if value is MISSING else value

    async def aget_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        mapping = self._keys(keys, version)
        return self._collect(mapping, await self._store.aget_many(list(mapping)))

    async def ahas_key(self, key: Any, version: int | None = None) -> bool:
        skey = self.make_and_validate_key(key, version=version)
        return self._decode(skey, await self._store.aget(skey)) is not MISSING

    async def aset(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        skey = self.make_and_validate_key(key, version=version)
        await self._store.aset(skey, self._encode(skey, value), self.get_backend_timeout(timeout))

    async def aset_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        items = self._encode_many(data, version)
        await self._store.aset_many(items, self.get_backend_timeout(timeout))
        return []

    async def aadd(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        skey = self.make_and_validate_key(key, version=version)
        blob = self._encode(skey, value)
        return await self._store.aadd(skey, blob, self.get_backend_timeout(timeout))

    async def atouch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        skey = self.make_and_validate_key(key, version=version)
        return await self._store.atouch(skey, self.get_backend_timeout(timeout))

    async def adelete(self, key: Any, version: int | None = None) -> bool:
        return await self._store.adelete(self.make_and_validate_key(key, version=version))

    async def adelete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        await self._store.adelete_many(list(self._keys(keys, version)))

    async def aincr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        skey = self.make_and_validate_key(key, version=version)
        for _ in range(CAS_ATTEMPTS):
            blob = await self._store.aget_for_update(skey)
            new_value, new_blob = self._incremented(key, skey, blob, delta)
            if await self._store.acompare_and_set(skey, blob, new_blob):  # type: ignore[arg-type]
                return new_value
        raise ContentionError(f"incr of {key!r} lost {CAS_ATTEMPTS} races in a row")

    async def aclear(self) -> None:
        await self._store.aclear()

    async def aclose(self, **kwargs: Any) -> None:
        await self._store.aclose()
