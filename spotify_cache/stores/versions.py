"""Version records: the O(1) unit of invalidation for partitions and tags.

A record is a name (``p:<partition>``, ``t:<tag>``) holding a random token.
Values are stamped with the tokens current when they were written (see
``codecs.stamps``); invalidating a record *deletes* it, and the next writer
creates a new random token.  So invalidation is one delete whatever the
number of values under the record, nothing grows with the members, and a
record lost for any reason (eviction, flush, failover) has exactly the effect
of an invalidation: values stamped with the old token read as misses, never
as fresh.  Tokens are random, not counters, so a recreated record can never
match an old stamp (a counter restarting at 1 would).

A record lives at least as long as the values written under it: ``acquire``
creates it with, or extends it to, the value's TTL (at least ``MIN_TTL``, so
most writes need no extension); it expires on its own once nothing can
depend on it.
"""

from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from ..codecs.stamps import NONCE, TOKEN_BYTES, unpack

if TYPE_CHECKING:
    from .base import Store

#: Seconds a record lives at least, whatever the TTL of the value that made it.
MIN_TTL = 86400.0
#: Stamp bodies remembered as verified (cleared wholesale when full).
VERIFIED_LIMIT = 16384
_NEVER = float("inf")


def new_token() -> bytes:
    return os.urandom(TOKEN_BYTES)


def lifetime(ttl: float | None) -> float:
    """Seconds a record must live for a value of ``ttl`` (``inf``: for ever)."""
    return _NEVER if ttl is None else max(ttl, MIN_TTL)


class Versions(ABC):
    """The version records of one cache namespace.

    ``generation`` moves whenever a record this process knows may have
    changed; a stamp body verified at the current generation, whose records
    are not past their deadline, is valid without looking at its records again
    (the read path then costs one dict lookup)."""

    generation = 0
    _clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self) -> None:
        self._verified: dict[bytes, tuple[int, float]] = {}

    def valid_stamp(self, body: bytes) -> bool:
        """Whether every record of a stamp body (``codecs.stamps``) is current."""
        verified = self._verified.get(body)
        if (
            verified is not None
            and verified[0] == self.generation
            and (verified[1] == _NEVER or verified[1] > self._clock())
        ):
            return True
        generation = self.generation  # read first: a change meanwhile voids the memo
        until = self.valid_until([r for r in unpack(body) if r[0] != NONCE])
        if until == _NEVER or until > self._clock():
            if self.trusted():
                self._remember_body(body, generation, until)
            return True
        return False

    def _remember_body(self, body: bytes, generation: int, until: float) -> None:
        memo = self._verified
        if len(memo) >= VERIFIED_LIMIT:
            memo.clear()
        memo[body] = (generation, until)

    def changed(self) -> None:
        """A record may have changed: verified stamps must be checked again."""
        self.generation += 1

    def forget_copies(self) -> None:
        """Drop what this process holds of the records (after a ``clear()``
        deleted them in the store, before the news arrives by tracking)."""
        self.changed()

    def trusted(self) -> bool:
        """Whether what this process knows of the records may be remembered."""
        return True

    def valid_until(self, records: Sequence[tuple[str, bytes]]) -> float:
        """Until when (``clock``) every record is current; ``0.0`` if one is not."""
        return _NEVER if self.valid(records) else 0.0

    @abstractmethod
    def current(self, names: Sequence[str]) -> list[bytes | None]:
        """The current token of each name (``None``: no record, i.e. invalidated)."""

    @abstractmethod
    def acquire(self, names: Sequence[str], ttl: float | None) -> list[bytes]:
        """The tokens to stamp a value of ``ttl`` with, creating missing records
        and extending short-lived ones so that they outlive the value."""

    @abstractmethod
    def drop(self, names: Iterable[str]) -> None:
        """Invalidate: delete the records (values stamped with them go stale)."""

    def valid(self, records: Sequence[tuple[str, bytes]]) -> bool:
        """Whether every ``(name, token)`` is still current (the read-path check)."""
        tokens = self.current([name for name, _ in records])
        return all(t == token for t, (_, token) in zip(tokens, records, strict=True))

    async def acurrent(self, names: Sequence[str]) -> list[bytes | None]:
        return self.current(names)

    async def aacquire(self, names: Sequence[str], ttl: float | None) -> list[bytes]:
        return self.acquire(names, ttl)

    async def adrop(self, names: Iterable[str]) -> None:
        self.drop(names)


class MemoryVersions(Versions):
    """Records in a dict, for stores that live in this process."""

    def __init__(self, timer: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._records: dict[str, tuple[bytes, float]] = {}
        self._timer = self._clock = timer
        self._lock = threading.Lock()

    def current(self, names: Sequence[str]) -> list[bytes | None]:
        now, records = self._timer(), self._records
        out: list[bytes | None] = []
        for name in names:
            entry = records.get(name)
            out.append(entry[0] if entry is not None and entry[1] > now else None)
        return out

    def valid(self, records: Sequence[tuple[str, bytes]]) -> bool:
        return self.valid_until(records) > self._timer()

    def valid_until(self, records: Sequence[tuple[str, bytes]]) -> float:
        now, held, until = self._timer(), self._records, _NEVER
        for name, token in records:
            entry = held.get(name)
            if entry is None or entry[0] != token or entry[1] <= now:
                return 0.0
            until = min(until, entry[1])
        return until

    def acquire(self, names: Sequence[str], ttl: float | None) -> list[bytes]:
        need = self._timer() + (_NEVER if ttl is None else max(ttl, 0.0))
        tokens, records = [], self._records
        for name in names:  # the common case, without the lock: every record outlives it
            entry = records.get(name)
            if entry is None or entry[1] < need:
                break
            tokens.append(entry[0])
        else:
            return tokens
        with self._lock:
            return [self._acquire_one(name, ttl) for name in names]

    def _acquire_one(self, name: str, ttl: float | None) -> bytes:
        now = self._timer()
        entry = self._records.get(name)
        needed = now + (_NEVER if ttl is None else max(ttl, 0.0))
        if entry is not None and entry[1] > now:
            if entry[1] < needed:
                entry = (entry[0], now + lifetime(ttl))
                self._records[name] = entry
            return entry[0]
        token = new_token()
        self._records[name] = (token, now + lifetime(ttl))
        return token

    def drop(self, names: Iterable[str]) -> None:
        with self._lock:
            for name in names:
                self._records.pop(name, None)
            self.changed()

    def __len__(self) -> int:
        return len(self._records)


class StoreVersions(Versions):
    """Records kept as ordinary entries of any ``Store`` under ``key(name)``
    (for stores named by dotted path; the built-in ones have faster tables)."""

    def __init__(self, store: Store, key: Callable[[str], str]) -> None:
        super().__init__()
        self._store = store
        self._key = key

    def current(self, names: Sequence[str]) -> list[bytes | None]:
        return self._store.get_many([self._key(n) for n in names])

    def acquire(self, names: Sequence[str], ttl: float | None) -> list[bytes]:
        tokens = []
        for name in names:
            key = self._key(name)
            self._store.add(key, new_token(), lifetime(ttl) if ttl is not None else None)
            token = self._store.get(key)
            if token is None:  # evicted at once: stamp with a token that matches nothing
                token = new_token()
            self._store.touch(key, None if ttl is None else lifetime(ttl))
            tokens.append(token)
        return tokens

    def drop(self, names: Iterable[str]) -> None:
        self._store.delete_many([self._key(n) for n in names])
