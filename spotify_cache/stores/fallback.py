"""What serves while the remote store is skipped (``failover``).

``FallbackStore`` is a small LRU ``MemoryStore`` whose TTLs are capped
(``OPTIONS["FALLBACK"]["TTL"]``): it holds only what this process wrote
during the outage, and for a short time, since no other process sees it.
``Nowhere`` (``FALLBACK: None``) keeps nothing: reads miss, writes are
dropped (and still logged for replay by the failover).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from .base import Store
from .memory import MemoryStore
from .versions import Versions, new_token


class FallbackStore(MemoryStore):
    """An LRU memory store of at most ``max_entries`` blobs, none kept longer than ``cap`` s."""

    def __init__(self, max_entries: int, cap: float, timer: Callable[[], float]) -> None:
        super().__init__("", {"MAX_ENTRIES": max_entries}, timer=timer)
        self.cap = cap

    def _capped(self, ttl: float | None) -> float:
        return self.cap if ttl is None else min(ttl, self.cap)

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        super().set(key, value, self._capped(ttl))

    def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        return super().add(key, value, self._capped(ttl))

    def set_if_unchanged(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None
    ) -> bool:
        return super().set_if_unchanged(key, expected, value, self._capped(ttl))

    def touch(self, key: str, ttl: float | None) -> bool:
        return super().touch(key, self._capped(ttl))


class NoRecords(Versions):
    """Version records that keep nothing: every stamp reads as invalidated."""

    def current(self, names: Sequence[str]) -> list[bytes | None]:
        return [None] * len(names)

    def acquire(self, names: Sequence[str], ttl: float | None) -> list[bytes]:
        return [new_token() for _ in names]

    def drop(self, names: Iterable[str]) -> None:
        return None


class Nowhere(Store):
    """A store that keeps nothing (``FALLBACK: None``)."""

    def __init__(self) -> None:
        super().__init__("", {})

    def get(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        return None

    def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        return True  # the key was free here; the value goes nowhere

    def set_if_unchanged(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None
    ) -> bool:
        return expected is None

    def compare_and_set(self, key: str, expected: bytes, value: bytes) -> bool:
        return False

    def touch(self, key: str, ttl: float | None) -> bool:
        return False

    def delete(self, key: str) -> bool:
        return False

    def clear(self) -> None:
        return None

    def iter_keys(self, pattern: str) -> Iterator[str]:
        return iter(())

    def ttl(self, key: str) -> float | None:
        return -2.0

    def versions(self, head: str, tail: str) -> Versions:
        return NoRecords()
