"""Aged access counts for admission decisions (the "TinyLFU" half of W-TinyLFU).

TinyLFU keeps a popularity estimate for keys that are *not* cached as well as
for those that are, and halves every estimate after a sample of accesses so
that the estimate follows the recent past.  The original uses a 4-bit
count-min sketch to bound memory; in Python a 4-row sketch costs four hashes
and four list updates per access, while one dict update is several times
cheaper.  The memory stays bounded anyway: the dict only holds keys touched
since the last halvings, at most ``sample_size`` of them per period, and
halving drops every count that falls to zero.
"""

from __future__ import annotations

from collections.abc import Hashable

#: Counts saturate here, like the sketch's 4-bit counters: beyond it "hot" is hot enough.
MAX_COUNT = 15


class FrequencyCounter:
    """Per-key access counts, capped at ``MAX_COUNT`` and halved every ``sample_size`` updates."""

    def __init__(self, sample_size: int) -> None:
        self.sample_size = max(16, int(sample_size))
        self.clear()

    def increment(self, key: Hashable) -> None:
        """Count one access to ``key``."""
        count = self._counts.get(key, 0)
        if count < MAX_COUNT:
            self._counts[key] = count + 1
        self._updates += 1
        if self._updates >= self.sample_size:
            self._halve()

    def touch(self, key: Hashable) -> None:
        """Count ``key`` once if it has no count yet (a write nobody looked up first)."""
        if key not in self._counts:
            self.increment(key)

    def frequency(self, key: Hashable) -> int:
        """The aged count of ``key``; 0 for keys not seen recently."""
        return self._counts.get(key, 0)

    def clear(self) -> None:
        """Forget every count."""
        self._counts: dict[Hashable, int] = {}
        self._updates = 0

    def __len__(self) -> int:
        return len(self._counts)

    def _halve(self) -> None:
        # O(distinct keys) once per sample_size updates: O(1) amortized.
        self._counts = {key: count >> 1 for key, count in self._counts.items() if count > 1}
        self._updates = 0
