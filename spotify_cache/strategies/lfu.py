"""Least frequently used, with aging: evict the entry with the fewest recent hits.

Plain LFU lets an entry that was hot yesterday sit in the cache forever on the
strength of counts it will never earn again.  This LFU halves every count once
per *aging period* (a number of accesses proportional to the capacity), so old
popularity decays geometrically and a formerly hot key drops back to the bottom
once the traffic moves on.

Bookkeeping is the classic O(1) layout: one insertion-ordered dict of keys per
frequency ("bucket") and the smallest non-empty frequency.  Inside a bucket the
oldest access comes first, which breaks ties by recency.  Halving rebuilds the
buckets in one linear pass, which the aging period pays for: O(1) amortized.
"""

from __future__ import annotations

from collections.abc import Hashable

from .base import Strategy

_NOTHING = object()

#: Accesses between two halvings, as a multiple of the capacity (in entries).
AGING_FACTOR = 8


class LFUStrategy(Strategy):
    """LFU with frequency buckets, recency tie-break and periodic halving."""

    name = "lfu"

    _count: dict[Hashable, int]
    #: frequency -> {key: clock of last access}, oldest access first
    _buckets: dict[int, dict[Hashable, int]]
    _min: int
    _clock: int
    _since_aging: int
    _newest: Hashable

    def __init__(
        self, capacity: int, *, weighted: bool = False, aging_period: int | None = None
    ) -> None:
        super().__init__(capacity, weighted=weighted)
        # Weighted capacities are bytes; the period only needs a rough entry count.
        entries = min(self.capacity, 1 << 20) if weighted else self.capacity
        self.aging_period = aging_period or max(64, AGING_FACTOR * entries)
        self.clear()

    def on_hit(self, key: Hashable) -> None:
        count = self._count[key]
        self._move(key, count, count + 1)
        self._tick()

    def on_insert(self, key: Hashable, size: int) -> None:
        self._newest = key
        self._count[key] = 1
        self._bucket(1)[key] = self._clock
        self._min = 1
        self._tick()

    def on_remove(self, key: Hashable) -> None:
        count = self._count.pop(key, None)
        if count is not None:
            self._unlink(key, count)

    def victim(self) -> Hashable:
        if not self._count:
            raise KeyError("victim() on an empty LFUStrategy")
        key = self._least_frequent()
        self._newest = _NOTHING
        self.on_remove(key)
        return key

    def clear(self) -> None:
        self._count = {}
        self._buckets = {}
        self._min = 0
        self._clock = 0
        self._since_aging = 0
        self._newest = _NOTHING

    def __len__(self) -> int:
        return len(self._count)

    def _least_frequent(self) -> Hashable:
        """The oldest key of the lowest bucket, never the key inserted just now.

        A new key always has the lowest count; evicting it at once would make
        LFU refuse every newcomer once the cache holds anything reused.  Like
        the usual evict-then-insert LFU, the newcomer gets a chance instead.
        """
        bucket = iter(self._buckets[self._min])
        key = next(bucket)
        if key != self._newest or len(self._count) == 1:
            return key
        following = next(bucket, _NOTHING)
        if following is not _NOTHING:
            return following
        return next(iter(self._buckets[min(c for c in self._buckets if c != self._min)]))

    def frequency(self, key: Hashable) -> int:
        """The aged access count of a tracked ``key`` (0 when untracked)."""
        return self._count.get(key, 0)

    def _bucket(self, count: int) -> dict[Hashable, int]:
        bucket = self._buckets.get(count)
        if bucket is None:
            bucket = self._buckets[count] = {}
        return bucket

    def _move(self, key: Hashable, old: int, new: int) -> None:
        # Link into the new bucket first so _unlink finds it when old was the minimum.
        self._bucket(new)[key] = self._clock
        self._count[key] = new
        self._unlink(key, old)

    def _unlink(self, key: Hashable, count: int) -> None:
        bucket = self._buckets[count]
        del bucket[key]
        if not bucket:
            del self._buckets[count]
            if count == self._min:
                self._min = self._next_min(count)

    def _next_min(self, gone: int) -> int:
        if gone + 1 in self._buckets:
            return gone + 1
        # Distinct counts are few (at most ~sqrt(2 * accesses)), so min() is cheap.
        return min(self._buckets, default=0)

    def _tick(self) -> None:
        self._clock += 1
        self._since_aging += 1
        if self._since_aging >= self.aging_period:
            self._age()

    def _age(self) -> None:
        """Halve every count (rounding up so nothing tracked drops to zero)."""
        self._since_aging = 0
        merged: dict[int, list[tuple[int, Hashable]]] = {}
        for count, bucket in self._buckets.items():
            merged.setdefault((count + 1) // 2, []).extend(
                (clock, key) for key, clock in bucket.items()
            )
        self._buckets = {}
        for count, members in merged.items():
            # Two old buckets fold into one; re-sorting by last access keeps the
            # recency tie-break exact.  Each list is two sorted runs, which
            # Timsort merges in linear time.
            members.sort(key=_first)
            self._buckets[count] = {key: clock for clock, key in members}
            for _, key in members:
                self._count[key] = count
        self._min = min(self._buckets, default=0)


def _first(item: tuple[int, Hashable]) -> int:
    return item[0]
