"""``@cached``: race-safe read-through for functions and methods, sync and async.

::

    @cached(key="spotify:user:{user_id}:top", tags=["listener:{user_id}"], timeout=3600)
    def top_tracks(user_id: int) -> list[dict]: ...

    top_tracks(123)             # computed once, then served from the cache
    top_tracks.invalidate(123)  # the key for these arguments

``key`` and ``tags`` are format strings filled from the call's arguments by
name (``{self.pk}`` works on methods), or callables taking the same arguments.
Without ``key`` the key is ``<module>.<qualname>:<repr of the arguments>``
(arguments must then have a stable ``repr``).  ``partition`` names the
partition the key must fall into: a key outside it raises ``ValueError`` at
call time, so a typo in a prefix cannot silently escape the partition's policy.
Reads go through ``get_or_set`` / ``aget_or_set``, so a load that races an
invalidation of its key, tags or partition is never written back.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT

Spec = str | Callable[..., Any]


class Cached:
    """The key and tags of one decorated function, and its cache."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        cache: str,
        key: Spec | None,
        tags: Sequence[Spec] | Callable[..., Iterable[str]] | None,
        partition: str | None,
        timeout: Any,
    ) -> None:
        self.func, self.alias, self.key, self.tags = func, cache, key, tags
        self.partition, self.timeout = partition, timeout
        self.signature = inspect.signature(func)
        self.name = f"{func.__module__}.{func.__qualname__}"

    @property
    def cache(self) -> Any:
        return caches[self.alias]

    def _arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)

    def key_for(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """The cache key of one call."""
        if self.key is None:
            values = self._arguments(args, kwargs)
            key = f"{self.name}:{values!r}"
        elif callable(self.key):
            key = str(self.key(*args, **kwargs))
        else:
            key = self.key.format(**self._arguments(args, kwargs))
        self._check_partition(key)
        return key

    def _check_partition(self, key: str) -> None:
        if self.partition is not None and self.cache.partition_of(key) != self.partition:
            raise ValueError(
                f"@cached {self.name}: key {key!r} falls into partition "
                f"{self.cache.partition_of(key)!r}, not {self.partition!r}"
            )

    def tags_for(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str] | None:
        """The tags of one call."""
        if self.tags is None:
            return None
        if callable(self.tags):
            return list(self.tags(*args, **kwargs))
        values = self._arguments(args, kwargs)
        return [t(*args, **kwargs) if callable(t) else t.format(**values) for t in self.tags]


def cached(
    *,
    cache: str = "default",
    key: Spec | None = None,
    tags: Sequence[Spec] | Callable[..., Iterable[str]] | None = None,
    partition: str | None = None,
    timeout: Any = DEFAULT_TIMEOUT,
) -> Callable[[Callable[..., Any]], Any]:
    """Cache a function's result (see the module docstring)."""

    def decorate(func: Callable[..., Any]) -> Any:
        spec = Cached(func, cache=cache, key=key, tags=tags, partition=partition, timeout=timeout)
        wrapper = _async_wrapper(spec) if inspect.iscoroutinefunction(func) else _wrapper(spec)
        wrapper.cached = spec  # type: ignore[attr-defined]
        wrapper.invalidate = lambda *a, **kw: spec.cache.invalidate(  # type: ignore[attr-defined]
            spec.key_for(a, kw), glob=False
        )
        return wrapper

    return decorate


def _wrapper(spec: Cached) -> Callable[..., Any]:
    @functools.wraps(spec.func)
    def call(*args: Any, **kwargs: Any) -> Any:
        return spec.cache.get_or_set(
            spec.key_for(args, kwargs),
            lambda: spec.func(*args, **kwargs),
            spec.timeout,
            tags=spec.tags_for(args, kwargs),
        )

    return call


def _async_wrapper(spec: Cached) -> Callable[..., Any]:
    @functools.wraps(spec.func)
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await spec.cache.aget_or_set(
            spec.key_for(args, kwargs),
            lambda: spec.func(*args, **kwargs),
            spec.timeout,
            tags=spec.tags_for(args, kwargs),
        )

    return call
