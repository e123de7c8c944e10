"""The in-process store: a dict of sealed blobs bounded by entries and bytes.

``MAX_ENTRIES`` / ``CULL_FREQUENCY`` behave exactly as in Django's
``LocMemCache`` (when a write finds the store full, ``len // CULL_FREQUENCY``
entries go, or all of them when it is 0); *which* entries go is the
strategy's choice.  ``MAX_BYTES`` additionally bounds the bytes held (keys plus
blobs), evicting one victim at a time.  Time comes from an injectable timer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, ClassVar

from ..codecs.framing import TOMBSTONE
from ..strategies import make_strategy
from . import option_checks
from .base import Store
from .globs import glob_matcher
from .versions import MemoryVersions, Versions

_NEVER = float("inf")
_shared: dict[Hashable, MemoryStore] = {}
_shared_lock = threading.Lock()


class MemoryStore(Store):
    """Thread-safe bounded store; one lock guards the dict and the strategy."""

    option_names: ClassVar[frozenset[str]] = frozenset(
        {"MAX_ENTRIES", "CULL_FREQUENCY", "MAX_BYTES", "STRATEGY", "TIMER"}
    )

    def __init__(
        self,
        location: str = "",
        options: Mapping[str, Any] | None = None,
        *,
        namespace: str = "*",
        timer: Callable[[], float] | None = None,
        cull_first: bool = True,
    ) -> None:
        """``cull_first`` keeps LocMemCache's rule (cull, then insert); ``False``
        inserts first and then evicts one victim at a time, which lets the
        strategy refuse admission (the near-cache uses that)."""
        super().__init__(location, options or {}, namespace=namespace)
        options = options or {}
        self.max_entries = int(options.get("MAX_ENTRIES", 300))
        self.cull_frequency = int(options.get("CULL_FREQUENCY", 3))
        self.max_bytes = options.get("MAX_BYTES")
        self._timer: Callable[[], float] = timer or options.get("TIMER") or time.monotonic
        self._strategy = make_strategy(options.get("STRATEGY", "lru"), self.max_entries)
        self._on_hit = self._strategy.on_hit  # bound once: called on every hit
        self._data: dict[str, tuple[bytes, float]] = {}
        self._bytes = 0
        self._cull_first = cull_first
        self._bounded_after_insert = self.max_bytes is not None or not cull_first
        self._lock = threading.Lock()
        self._versions: MemoryVersions | None = None

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        option_checks.number(options, "MAX_ENTRIES", minimum=1, integer=True)
        option_checks.number(options, "CULL_FREQUENCY", minimum=0, integer=True)
        option_checks.number(options, "MAX_BYTES", minimum=1, integer=True, optional=True)
        if options.get("TIMER") is not None and not callable(options["TIMER"]):
            raise ValueError(f'OPTIONS["TIMER"] must be a callable, not {options["TIMER"]!r}')

    @classmethod
    def open(
        cls, location: str | list[str], options: Mapping[str, Any], *, namespace: str = "*"
    ) -> Store:
        """Caches with the same LOCATION, key namespace and store options (the
        codec options do not matter) share one store, as ``LocMemCache``
        instances with the same LOCATION share one dict."""
        mine = sorted((k, repr(v)) for k, v in options.items() if k in cls.option_names)
        ident = (location, namespace, tuple(mine))
        with _shared_lock:
            store = _shared.get(ident)
            if store is None:
                store = _shared[ident] = cls(str(location), options, namespace=namespace)
            return store

    # -- reads ---------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is not None and entry[1] > self._timer():
                self._on_hit(key)
                return entry[0]
            if entry is not None:
                self._drop(key)
            self._strategy.record_miss(key)
            return None

    def __len__(self) -> int:
        return len(self._data)

    @property
    def bytes_used(self) -> int:
        """Bytes held: keys plus blobs."""
        return self._bytes

    # -- writes --------------------------------------------------------------
    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        with self._lock:
            if ttl is not None and ttl <= 0:
                self._discard(key)
                return
            self._store(key, value, self._deadline(ttl))

    def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        with self._lock:
            if self._live(key) and not self._data[key][0].startswith(TOMBSTONE):
                return False
            if ttl is None or ttl > 0:
                self._store(key, value, self._deadline(ttl))
            else:
                self._discard(key)
            return True

    def set_if_unchanged(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None
    ) -> bool:
        with self._lock:
            current = self._data[key][0] if self._live(key) else None
            if current != expected:
                return False
            if ttl is not None and ttl <= 0:
                self._discard(key)
            else:
                self._store(key, value, self._deadline(ttl))
            return True

    def versions(self, head: str, tail: str) -> Versions:
        """In-process records, shared by every cache sharing this store."""
        with self._lock:
            if self._versions is None:
                self._versions = MemoryVersions(self._timer)
            return self._versions

    def compare_and_set(self, key: str, expected: bytes, value: bytes) -> bool:
        with self._lock:
            entry = self._data.get(key) if self._live(key) else None
            if entry is None or entry[0] != expected:
                return False
            self._bytes += len(value) - len(entry[0])
            self._data[key] = (value, entry[1])
            self._strategy.on_update(key, len(key) + len(value))
            return True

    def touch(self, key: str, ttl: float | None) -> bool:
        with self._lock:
            if not self._live(key):
                return False
            if ttl is not None and ttl <= 0:
                self._drop(key)
            else:
                self._data[key] = (self._data[key][0], self._deadline(ttl))
            return True

    def delete(self, key: str) -> bool:
        with self._lock:
            live = self._live(key)
            self._discard(key)
            return live

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._strategy.clear()
            self._bytes = 0

    def iter_keys(self, pattern: str) -> Iterator[str]:
        """Live keys matching ``pattern`` in Redis's glob dialect (``globs``), not fnmatch's."""
        matches = glob_matcher(pattern)
        with self._lock:
            # a copy: _live drops expired keys as it meets them
            keys = [k for k in list(self._data) if matches(k) and self._live(k)]
        yield from keys

    def ttl(self, key: str) -> float | None:
        """Seconds left for ``key``: ``None`` if it never expires; ``-2.0`` if absent."""
        with self._lock:
            if not self._live(key):
                return -2.0
            deadline = self._data[key][1]
            return None if deadline == _NEVER else deadline - self._timer()

    # -- bookkeeping (lock held) -----------------------------------------------
    def _deadline(self, ttl: float | None) -> float:
        return _NEVER if ttl is None else self._timer() + ttl

    def _live(self, key: str) -> bool:
        entry = self._data.get(key)
        if entry is None:
            return False
        if entry[1] > self._timer():
            return True
        self._drop(key)
        return False

    def _store(self, key: str, value: bytes, deadline: float) -> None:
        if self._cull_first and len(self._data) >= self.max_entries:
            self._cull()
        old = self._data.get(key)
        self._data[key] = (value, deadline)
        size = len(key) + len(value)
        if old is None:
            self._bytes += size
            self._strategy.on_insert(key, size)
        else:
            self._bytes += len(value) - len(old[0])
            self._strategy.on_update(key, size)
        if self._bounded_after_insert:
            self._enforce_bounds()

    def _cull(self) -> None:
        if self.cull_frequency == 0:
            self._data.clear()
            self._strategy.clear()
            self._bytes = 0
            return
        for _ in range(len(self._data) // self.cull_frequency):
            self._evict_one()

    def _enforce_bounds(self) -> None:
        while self._data and (
            (not self._cull_first and len(self._data) > self.max_entries)
            or (self.max_bytes is not None and self._bytes > self.max_bytes)
        ):
            self._evict_one()

    def _evict_one(self) -> None:
        key = self._strategy.victim()
        value, _ = self._data.pop(key)  # type: ignore[call-overload]
        self._bytes -= len(key) + len(value)  # type: ignore[arg-type]

    def _drop(self, key: str) -> None:
        value, _ = self._data.pop(key)
        self._bytes -= len(key) + len(value)
        self._strategy.on_remove(key)

    def _discard(self, key: str) -> None:
        if key in self._data:
            self._drop(key)
