"""``CacheManager.for_user(user)``: the facade with every privileged call checked.

::

    handle = CacheManager("default").for_user(request.user, request)
    handle.invalidate("spotify:user:42:top")     # needs invalidate on "listeners"
    handle.invalidate_tags("artist:7")           # needs invalidate on every partition
    handle.clear()                               # needs clear on every partition

Which partitions a call reaches, and so which permission it needs where:

* a key: ``cache.partition_of(key)``;
* a glob: every partition a matching key could fall into (the one its literal
  prefix falls into, and every partition whose prefix extends that literal);
* tags: every partition of the cache, since a tag can be on any value;
* a partition: itself; ``clear()``: every partition (``clear`` permission).

A denial is recorded (``permission_denied``) and raises ``PermissionDenied``
before anything is touched; what is allowed runs inside ``audit.acting_as``, so
the invalidation is recorded as the user's.  Reads and writes of single values
(``get``, ``set``, ``get_or_set``, ``incr``, ``touch`` ...) are the
application's data path and pass through unchecked.  The handle guards the
calls made through it; it is not a sandbox (``handle.cache`` is the cache).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from asgiref.sync import sync_to_async

from ..backend import SpotifyCache
from ..core import is_glob
from ..manager import CacheManager
from . import audit, operations, rbac

#: The calls of ``CacheManager`` the handle checks; every other public method is
#: on the data path (a test keeps this list in step with ``CacheManager``).
PRIVILEGED = frozenset(
    {
        "invalidate",
        "invalidate_many",
        "invalidate_tags",
        "invalidate_partition",
        "clear",
        "ainvalidate",
    }
)


def literal_prefix(pattern: str) -> str:
    """The text every key matching the Redis glob ``pattern`` starts with."""
    out, escaped = [], False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "*?[":
            break
        else:
            out.append(char)
    return "".join(out)


def glob_partitions(cache: Any, pattern: str) -> set[str]:
    """The partitions a key matching ``pattern`` could fall into."""
    literal = literal_prefix(pattern)
    names = {cache.partition_of(literal)}
    for partition in cache.partitions.values():
        if partition.prefix and partition.prefix.startswith(literal):
            names.add(partition.name)
    return names


def reached(cache: Any, key_or_glob: Any) -> set[str]:
    """The partitions ``cache.invalidate(key_or_glob)`` reaches."""
    if not isinstance(cache, SpotifyCache):
        return {"default"}
    if isinstance(key_or_glob, str) and is_glob(key_or_glob):
        return glob_partitions(cache, key_or_glob)
    return {cache.partition_of(key_or_glob)}


class UserCacheManager(CacheManager):
    """A ``CacheManager`` acting for ``user``: privileged calls checked and audited."""

    def __init__(self, manager: CacheManager, user: Any, request: Any = None) -> None:
        self.cache = manager.cache
        self.user, self.request = user, request

    def __repr__(self) -> str:
        return f"<CacheManager {type(self.cache).__name__} for {operations._name(self.user)}>"

    def invalidate(self, key_or_glob: str) -> int:
        self._require("invalidate", reached(self.cache, key_or_glob), key_or_glob, "invalidate")
        with audit.acting_as(self.user, self.request):
            return super().invalidate(key_or_glob)

    async def ainvalidate(self, key_or_glob: str) -> int:
        names = reached(self.cache, key_or_glob)
        await sync_to_async(self._require)("invalidate", names, key_or_glob, "ainvalidate")
        with audit.acting_as(self.user, self.request):
            return await super().ainvalidate(key_or_glob)

    def invalidate_many(self, keys: Iterable[str]) -> int:
        keys = list(keys)
        if isinstance(self.cache, SpotifyCache):
            names = {self.cache.partition_of(key) for key in keys}
        else:
            names = {"default"}
        self._require("invalidate", names, keys[0] if len(keys) == 1 else None, "invalidate_many")
        with audit.acting_as(self.user, self.request):
            return super().invalidate_many(keys)

    def invalidate_tags(self, *tags: str) -> None:
        names = operations.partition_names(self._spotify())
        self._require("invalidate", names, operation="invalidate_tags")
        with audit.acting_as(self.user, self.request):
            super().invalidate_tags(*tags)

    def invalidate_partition(self, name: str) -> None:
        known = self._spotify().partitions
        if name not in known:  # the cache's own error, before any permission is looked up
            raise KeyError(f"no partition {name!r}; known: {sorted(known)}")
        self._require("invalidate", {name}, operation="invalidate_partition")
        with audit.acting_as(self.user, self.request):
            super().invalidate_partition(name)

    def clear(self) -> None:
        operations.clear_cache(self.user, self.cache, request=self.request)

    def _require(
        self, perm: str, names: Iterable[str], key: Any = None, operation: str = ""
    ) -> None:
        literal = isinstance(key, str) and not (
            isinstance(self.cache, SpotifyCache) and is_glob(key)
        )
        rbac.require_all(
            self.user,
            perm,
            getattr(self.cache, "alias", None),
            names,
            request=self.request,
            key=self.cache.make_key(key) if literal else None,  # globs are never recorded
            operation=operation,
        )
