"""The replay log: what changed while the remote store could not be told.

Each write, delete or invalidation made while the circuit is open (or whose
call to the remote failed) adds an ``Entry``: keys, a glob, version records
to drop, or "clear".  On recovery the log is replayed before the remote
serves again (``circuit.Failover``), so an older value the remote still holds
never reappears.  The log is bounded: past ``limit`` items it *overflows*,
forgets its items and replays as one ``clear()`` of the cache's namespace
instead, which loses the warm cache but never serves a stale value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

KEYS, PATTERN, RECORDS, CLEAR = "keys", "pattern", "records", "clear"


class Entry(NamedTuple):
    """One change the remote missed: ``kind`` and its items (``table``: the
    version-records table ``RECORDS`` items belong to)."""

    kind: str
    items: Sequence[str] = ()
    table: Any = None


def keys(*names: str) -> Entry:
    return Entry(KEYS, names)


def key_list(names: Sequence[str]) -> Entry:
    return Entry(KEYS, names)


def pattern(glob: str) -> Entry:
    return Entry(PATTERN, (glob,))


def records(table: Any, names: Sequence[str]) -> Entry:
    return Entry(RECORDS, names, table)


CLEARED = Entry(CLEAR)


class ReplayLog:
    """Keys, globs and records to replay, at most ``limit`` items before it overflows."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.keys: set[str] = set()
        self.patterns: set[str] = set()
        #: ``id(table)`` -> (table, record names)
        self.records: dict[int, tuple[Any, set[str]]] = {}
        #: Replay as a ``clear()``: asked for, or the log overflowed.
        self.clear = False
        self.overflowed = False

    def __bool__(self) -> bool:
        return self.clear or bool(self.keys or self.patterns or self.records)

    def __len__(self) -> int:
        return len(self.keys) + len(self.patterns) + sum(len(n) for _, n in self.records.values())

    def add(self, entry: Entry) -> bool:
        """Log ``entry``; whether the log overflowed just now."""
        if self.clear:
            return False  # a clear covers everything
        if entry.kind == CLEAR:
            self._forget(overflowed=False)
            return False
        if entry.kind == KEYS:
            self.keys.update(entry.items)
        elif entry.kind == PATTERN:
            self.patterns.update(entry.items)
        else:
            self.records.setdefault(id(entry.table), (entry.table, set()))[1].update(entry.items)
        if len(self) <= self.limit:
            return False
        self._forget(overflowed=True)
        return True

    def merge(self, other: ReplayLog) -> bool:
        """Take back a log whose replay failed; whether this log overflowed."""
        if other.clear:
            self._forget(overflowed=other.overflowed or self.overflowed)
            return False
        overflowed = self.add(Entry(KEYS, tuple(other.keys)))
        overflowed |= self.add(Entry(PATTERN, tuple(other.patterns)))
        for table, names in other.records.values():
            overflowed |= self.add(Entry(RECORDS, tuple(names), table))
        return overflowed

    def _forget(self, *, overflowed: bool) -> None:
        self.keys, self.patterns, self.records = set(), set(), {}
        self.clear = True
        self.overflowed = self.overflowed or overflowed
