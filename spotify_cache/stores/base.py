"""The store contract: bytes in, bytes out, no Django.

A store keeps opaque, already-sealed blobs under string keys.  It never sees
a Python value, a cache version or a Django setting; the backend does all of
that.  To plug in another backend, subclass ``Store``, implement the abstract
methods, and name the class in ``OPTIONS["STORE"]``.

TTLs are seconds as floats: ``None`` keeps the entry forever and a value
``<= 0`` means "already expired" (``set`` deletes, ``add`` only reports
whether the key was free, ``touch`` deletes).

Transport failures must be raised as ``spotify_cache.exceptions.StoreError``
(``StoreUnavailable`` when the server cannot be reached), wrapped once here at
the boundary, so the layers above can decide to fail open.

The ``a*`` methods are the native-async twins; the defaults call the sync
methods directly, which is right for stores that never block (memory).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from .versions import StoreVersions, Versions


class Store(ABC):
    """Base class of stores."""

    #: ``OPTIONS`` names this store understands (validated by the backend).
    option_names: ClassVar[frozenset[str]] = frozenset()
    #: Whether a store key is one this cache could have made
    #: (``namespace.Namespace.owns``), set by the backend; stores shared by
    #: several caches (Redis) skip other keys when they scan ``namespace``.
    owns: Callable[[str], bool] | None = None

    def __init__(self, location: str, options: Mapping[str, Any], *, namespace: str = "*") -> None:
        """``namespace`` is a glob pattern matching every key of this cache (for
        ``clear`` and ``iter_keys``); stores that hold one cache only may ignore it."""
        self.location = location
        self.namespace = namespace

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming the first bad value in ``options``; called
        at start-up and by ``manage.py check``, without building the store."""
        return None  # the base store reads no options

    @classmethod
    def open(
        cls, location: str | list[str], options: Mapping[str, Any], *, namespace: str = "*"
    ) -> Store:
        """The store for this configuration; stores that share state across
        backend instances (one per thread in Django) override this."""
        return cls(location, options, namespace=namespace)  # type: ignore[arg-type]

    # -- reads ---------------------------------------------------------------
    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The blob under ``key`` or ``None``."""

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Blobs for ``keys``, aligned with ``keys``; override to batch."""
        return [self.get(key) for key in keys]

    def get_for_update(self, key: str) -> bytes | None:
        """Like ``get`` but from the authoritative copy (never a replica)."""
        return self.get(key)

    # -- writes --------------------------------------------------------------
    @abstractmethod
    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        """Store ``value`` under ``key``."""

    def set_many(self, items: Mapping[str, bytes], ttl: float | None) -> None:
        """Store every item; override to batch."""
        for key, value in items.items():
            self.set(key, value, ttl)

    @abstractmethod
    def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        """Store ``value`` only if ``key`` is free (absent, or holding an
        invalidation marker, ``codecs.framing.TOMBSTONE``); return whether it was free."""

    def set_if_unchanged(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None
    ) -> bool:
        """Store ``value`` only if ``key`` still holds ``expected`` (``None``:
        nothing); the read-through write-back.  Override to make it atomic: this
        default is not, across processes."""
        if self.get_for_update(key) != expected:
            return False
        self.set(key, value, ttl)
        return True

    @abstractmethod
    def compare_and_set(self, key: str, expected: bytes, value: bytes) -> bool:
        """Replace ``expected`` by ``value`` atomically, keeping the remaining TTL."""

    @abstractmethod
    def touch(self, key: str, ttl: float | None) -> bool:
        """Give ``key`` a new TTL; return whether it exists."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it existed."""

    def delete_many(self, keys: Sequence[str]) -> int:
        """Remove ``keys``; return how many existed; override to batch."""
        return sum(self.delete(key) for key in keys)

    @abstractmethod
    def clear(self) -> None:
        """Remove every key of this cache (those matching ``namespace``)."""

    def iter_keys(self, pattern: str) -> Iterator[str]:
        """Keys matching the glob ``pattern`` (``NotImplementedError`` if unlistable)."""
        raise NotImplementedError(f"{type(self).__name__} cannot list keys")

    def delete_matching(self, pattern: str) -> int:
        """Remove every key matching the glob ``pattern``; return how many went."""
        keys = list(self.iter_keys(pattern))
        return self.delete_many(keys)

    def ttl(self, key: str) -> float | None:
        """Seconds left for ``key``: ``None`` if it never expires, ``-2.0`` if absent."""
        raise NotImplementedError(f"{type(self).__name__} cannot report TTLs")

    def versions(self, head: str, tail: str) -> Versions:
        """The version records (``versions``) of the cache whose record keys are
        ``head + name + tail``; built once per cache."""
        return StoreVersions(self, lambda name: f"{head}{name}{tail}")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release per-request resources (Django calls this after each request)."""

    # -- async twins -----------------------------------------------------------
    async def aget(self, key: str) -> bytes | None:
        return self.get(key)

    async def aget_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return self.get_many(keys)

    async def aget_for_update(self, key: str) -> bytes | None:
        return self.get_for_update(key)

    async def aset(self, key: str, value: bytes, ttl: float | None) -> None:
        self.set(key, value, ttl)

    async def aset_many(self, items: Mapping[str, bytes], ttl: float | None) -> None:
        self.set_many(items, ttl)

    async def aadd(self, key: str, value: bytes, ttl: float | None) -> bool:
        return self.add(key, value, ttl)

    async def aset_if_unchanged(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None
    ) -> bool:
        return self.set_if_unchanged(key, expected, value, ttl)

    async def acompare_and_set(self, key: str, expected: bytes, value: bytes) -> bool:
        return self.compare_and_set(key, expected, value)

    async def atouch(self, key: str, ttl: float | None) -> bool:
        return self.touch(key, ttl)

    async def adelete(self, key: str) -> bool:
        return self.delete(key)

    async def adelete_many(self, keys: Sequence[str]) -> int:
        return self.delete_many(keys)

    async def aclear(self) -> None:
        self.clear()

    async def aclose(self) -> None:
        self.close()
