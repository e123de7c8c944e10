"""``CacheManager``: the seed's small API over the same ``SpotifyCache`` backend.

::

    from spotify_cache import CacheManager
    cache = CacheManager(backend="redis")
    cache.set("spotify:user:123", {"top_tracks": [...]}, ttl=3600)
    data = cache.get("spotify:user:123")
    cache.invalidate("spotify:user:123")

``backend`` is an alias of ``settings.CACHES`` (its backend is used as is), or
``"redis"`` / ``"memory"`` for a standalone ``SpotifyCache`` built from
``location`` and ``options`` (defaults: ``SPOTIFY_CACHE_REDIS_URL``, ``memory://``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

from . import conf
from .backend import SpotifyCache
from .signals import invalidated

STANDALONE = ("redis", "memory")


def _standalone(
    kind: str, location: Any, options: Mapping[str, Any] | None, params: Mapping[str, Any]
) -> SpotifyCache:
    if location is None:
        location = conf.get("REDIS_URL") if kind == "redis" else "memory://"
    return SpotifyCache(location, {**params, "OPTIONS": dict(options or {})})


def _configured(alias: str) -> bool:
    return settings.configured and alias in settings.CACHES


class CacheManager:
    """A thin facade: ``get``/``set(ttl=)``/``invalidate`` and friends, sync and async."""

    def __init__(
        self,
        backend: str = "default",
        *,
        location: Any = None,
        options: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> None:
        """``params`` are the other ``CACHES`` keys for a standalone cache
        (``TIMEOUT``, ``KEY_PREFIX``, ``VERSION``, ``KEY_FUNCTION``)."""
        if _configured(backend) and location is None and options is None and not params:
            self.cache: BaseCache = caches[backend]
        elif backend in STANDALONE:
            self.cache = _standalone(backend, location, options, params)
        else:
            raise ValueError(
                f"backend {backend!r} is not an alias in settings.CACHES nor one of {STANDALONE}"
            )

    def __repr__(self) -> str:
        return f"<CacheManager {type(self.cache).__name__}>"

    def for_user(self, user: Any, request: Any = None) -> CacheManager:
        """This cache acting for ``user``: invalidations and ``clear`` need the user's
        permission on each partition they reach (``PermissionDenied``, audited);
        see docs/rbac.md."""
        from .security.scoped import UserCacheManager  # above the facade: imported late

        return UserCacheManager(self, user, request)

    def get(self, key: str, default: Any = None) -> Any:
        return self.cache.get(key, default)

    def set(
        self,
        key: str,
        value: Any,
        ttl: float | None = DEFAULT_TIMEOUT,
        *,
        tags: Iterable[str] | None = None,
    ) -> None:
        """Store ``value`` for ``ttl`` seconds (``None``: for ever; omitted: the
        default), under ``tags`` when given."""
        if tags is not None:
            self._spotify().set(key, value, ttl, tags=tags)
        else:
            self.cache.set(key, value, ttl)

    def invalidate(self, key_or_glob: str) -> int:
        """Invalidate a key or every key matching a glob (``spotify:user:123:*``);
        return how many held a value.  Fires ``signals.invalidated``."""
        if isinstance(self.cache, SpotifyCache):
            return self.cache.invalidate(key_or_glob)
        deleted = int(bool(self.cache.delete(key_or_glob)))
        invalidated.send(
            sender=type(self),
            cache=self.cache,
            alias=None,
            kind="key",
            targets=(key_or_glob,),
            count=deleted,
            cause="key",
            reason="",
        )
        return deleted

    def invalidate_many(self, keys: Iterable[str]) -> int:
        """Invalidate each key (literally: no globs); return how many held a value."""
        if isinstance(self.cache, SpotifyCache):
            return sum(self.cache.invalidate(k, glob=False) for k in keys)
        return sum(self.invalidate(k) for k in keys)

    def invalidate_tags(self, *tags: str) -> None:
        """Invalidate every value written with any of ``tags`` (``set(..., tags=[...])``)."""
        self._spotify().invalidate_tags(*tags)

    def invalidate_partition(self, name: str) -> None:
        """Invalidate every value of partition ``name``."""
        self._spotify().invalidate_partition(name)

    def _spotify(self) -> SpotifyCache:
        if not isinstance(self.cache, SpotifyCache):
            raise TypeError(f"{type(self.cache).__name__} has no tags or partitions")
        return self.cache

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        return self.cache.get_many(keys)

    def set_many(self, data: Mapping[str, Any], ttl: float | None = DEFAULT_TIMEOUT) -> None:
        self.cache.set_many(dict(data), ttl)

    def get_or_set(
        self, key: str, default: Callable[[], Any] | Any, ttl: float | None = DEFAULT_TIMEOUT
    ) -> Any:
        """The cached value, or ``default`` (called if callable) stored and returned."""
        return self.cache.get_or_set(key, default, ttl)

    def incr(self, key: str, delta: int = 1) -> int:
        return self.cache.incr(key, delta)

    def touch(self, key: str, ttl: float | None = DEFAULT_TIMEOUT) -> bool:
        return self.cache.touch(key, ttl)

    def clear(self) -> None:
        """Remove every key of this cache (only this cache's keys on Redis)."""
        self.cache.clear()

    async def aget(self, key: str, default: Any = None) -> Any:
        return await self.cache.aget(key, default)

    async def aset(self, key: str, value: Any, ttl: float | None = DEFAULT_TIMEOUT) -> None:
        await self.cache.aset(key, value, ttl)

    async def ainvalidate(self, key_or_glob: str) -> int:
        if isinstance(self.cache, SpotifyCache):
            return await self.cache.ainvalidate(key_or_glob)
        return self.invalidate(key_or_glob)

    async def aget_or_set(
        self, key: str, default: Callable[[], Any] | Any, ttl: float | None = DEFAULT_TIMEOUT
    ) -> Any:
        return await self.cache.aget_or_set(key, default, ttl)
