"""Adaptive W-TinyLFU: a frequency-filtered cache whose recency share is learned online.

Layout (sizes are entries, or bytes when ``weighted``)::

    new keys -> [window LRU] --candidate--> duel --winner--> [probation | protected]  (main)
                                                ^ victim: probation's LRU entry

* The **window** is a small LRU that every new key enters; it absorbs bursts of
  recency, where a key is reused soon after its first access.
* When the window overflows, its LRU entry (the *candidate*) duels the main
  region's LRU entry (the *victim*): the key with the higher aged access count
  (``sketch.FrequencyCounter``, counts kept for uncached keys too) stays.  This
  admission filter is what makes the policy scan resistant: a one-pass scan
  never out-counts the working set.
* The **main** region is a segmented LRU: a hit in probation promotes the key to
  protected, whose overflow is demoted back to probation.

What the best window size is depends on the workload: ~1% for frequency-biased
traffic (search, databases), most of the cache for recency-biased traffic (job
queues, loops over a moving set).  The policy learns it online from two signals:

* **Hill climbing on the hit ratio** (Caffeine's adaptive W-TinyLFU): after each
  sample of requests the window boundary moves one step in the direction that
  last improved the hit ratio, reverses when the hit ratio drops, shrinks the
  step as it settles and restarts with a full step when the hit ratio jumps.
* **Regret from ghosts** (as in ARC and LeCaR): the keys each region recently
  evicted are remembered without values; a miss on one of them is a mistake
  that a larger share for that region would have avoided, and nudges the
  boundary that way at once.  Hit-ratio samples are slow and confounded by
  workload phases; ghost hits are immediate but biased toward the window, so
  they only get a small gain (``ghost_gain``) next to the climber.

This learning never runs per lookup as a model evaluation: the climber runs
once per sample (thousands of requests) and moves O(step) entries; a ghost hit
costs one dict deletion and a float update.  Every hook is O(1) amortized with
a few dict operations, in pure Python.

Parameters (keyword arguments of the constructor, see ``docs/strategies.md``):
``window`` initial window share, ``protected`` protected share of main,
``step`` initial climbing step as a share of capacity (0 disables climbing),
``sample`` requests per climbing sample as a multiple of the capacity in
entries, ``ghost_gain`` entries moved per ghost hit (0 disables it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from .base import Strategy
from .sketch import FrequencyCounter

#: A hit-ratio change this large means the workload shifted: restart with a full step.
RESTART_THRESHOLD = 0.05
#: Each sample shrinks the step by this factor, so the climber settles.
STEP_DECAY = 0.98
#: Admission counts are halved every this many accesses per entry of capacity.
SKETCH_FACTOR = 10


class _Segment(OrderedDict[Hashable, int]):
    """An LRU list of key -> size that also keeps its total size."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = 0

    def add(self, key: Hashable, size: int) -> None:
        self[key] = size
        self.weight += size

    def take(self, key: Hashable) -> int:
        size = self.pop(key)
        self.weight -= size
        return size

    def oldest(self) -> Hashable:
        return next(iter(self))


class AdaptiveStrategy(Strategy):
    """W-TinyLFU with an online hill-climbed window (see the module docstring)."""

    name = "adaptive"

    def __init__(
        self,
        capacity: int,
        *,
        weighted: bool = False,
        window: float = 0.01,
        protected: float = 0.8,
        step: float = 0.0625,
        sample: float = 10.0,
        ghost_gain: float = 0.1,
    ) -> None:
        super().__init__(capacity, weighted=weighted)
        self.initial_window = window
        self.protected_share = protected
        self.step_share = step
        self.sample_factor = sample
        self.ghost_gain = ghost_gain
        self.clear()

    # -- hooks -------------------------------------------------------------

    def record_miss(self, key: Hashable) -> None:
        self._sketch.increment(key)
        self._misses += 1
        if key in self._window_ghost:
            self._regret(key, self._window_ghost, self._main_ghost, 1.0)
        elif key in self._main_ghost:
            self._regret(key, self._main_ghost, self._window_ghost, -1.0)
        if self._hits + self._misses >= self._sample_size:
            self._climb()

    def on_hit(self, key: Hashable) -> None:
        self._sketch.increment(key)
        self._hits += 1
        if key in self._window:
            self._window.move_to_end(key)
        elif key in self._protected:
            self._protected.move_to_end(key)
        else:
            self._promote(key)
        if self._hits + self._misses >= self._sample_size:
            self._climb()

    def on_insert(self, key: Hashable, size: int) -> None:
        # A write nobody looked up first still counts as one access.
        self._sketch.touch(key)
        self._window.add(key, size)
        self._fill_main()

    def on_update(self, key: Hashable, size: int) -> None:
        segment = self._segment_of(key)
        segment.weight += size - segment[key]
        segment[key] = size
        self.on_hit(key)

    def on_remove(self, key: Hashable) -> None:
        for segment in (self._window, self._probation, self._protected):
            if key in segment:
                segment.take(key)
                return

    def victim(self) -> Hashable:
        self._full = True
        if self._window and self._window.weight > self._window_max:
            return self._duel()
        return self._evict_main()

    def clear(self) -> None:
        self._window = _Segment()
        self._probation = _Segment()
        self._protected = _Segment()
        self._window_ghost: OrderedDict[Hashable, None] = OrderedDict()
        self._main_ghost: OrderedDict[Hashable, None] = OrderedDict()
        self._ghost_limit = self._entries_hint()
        self._sketch = FrequencyCounter(SKETCH_FACTOR * self._entries_hint())
        self._resize_regions(self.initial_window * self.capacity)
        self._step = self.step_share * self.capacity
        self._hits = self._misses = 0
        self._previous_hit_ratio = 0.0
        self._sample_size = max(64, int(self.sample_factor * self._entries_hint()))
        self._full = False

    def __len__(self) -> int:
        return len(self._window) + len(self._probation) + len(self._protected)

    @property
    def window_size(self) -> float:
        """The current window target (entries, or bytes when weighted)."""
        return self._window_max

    # -- eviction ------------------------------------------------------------

    def _duel(self) -> Hashable:
        """The window overflowed: its LRU entry enters main only by out-counting main's LRU."""
        candidate = self._window.oldest()
        rival = self._main_victim()
        if rival is not None and self._sketch.frequency(candidate) > self._sketch.frequency(rival):
            self._drop_main(rival)
            self._probation.add(candidate, self._window.take(candidate))
            return rival
        self._window.take(candidate)
        self._remember(self._window_ghost, candidate, len(self._window))
        return candidate

    def _evict_main(self) -> Hashable:
        rival = self._main_victim()
        if rival is None:
            if not self._window:
                raise KeyError("victim() on an empty AdaptiveStrategy")
            rival = self._window.oldest()
            self._window.take(rival)
            self._remember(self._window_ghost, rival, len(self._window))
            return rival
        self._drop_main(rival)
        return rival

    def _main_victim(self) -> Hashable | None:
        if self._probation:
            return self._probation.oldest()
        if self._protected:
            return self._protected.oldest()
        return None

    def _drop_main(self, key: Hashable) -> None:
        if key in self._probation:
            self._probation.take(key)
        else:
            self._protected.take(key)
        self._remember(self._main_ghost, key, len(self._probation) + len(self._protected))

    def _remember(self, ghost: OrderedDict[Hashable, None], key: Hashable, resident: int) -> None:
        """Keep ``key`` as a ghost of a region holding ``resident`` entries.

        A region's ghost is as deep as the rest of the cache: a ghost hit then
        means the key would have been a hit had that region had all of it.
        """
        ghost[key] = None
        while len(ghost) > max(1, self._ghost_limit - resident):
            ghost.popitem(last=False)

    def _regret(
        self,
        key: Hashable,
        ghost: OrderedDict[Hashable, None],
        other: OrderedDict[Hashable, None],
        sign: float,
    ) -> None:
        """A recently evicted key came back: move the boundary toward the region that
        would have kept it, by more when that region's ghost is the rarer one (as ARC)."""
        del ghost[key]
        if not self.ghost_gain:
            return
        entries = max(1.0, len(other) / (len(ghost) + 1))
        unit = self.capacity / max(1, len(self)) if self.weighted else 1.0
        self._resize_regions(self._window_max + sign * self.ghost_gain * entries * unit)

    # -- movement between regions ------------------------------------------------

    def _promote(self, key: Hashable) -> None:
        self._protected.add(key, self._probation.take(key))
        self._demote_protected()

    def _demote_protected(self) -> None:
        protected = self._protected
        while protected.weight > self._protected_max and len(protected) > 1:
            oldest = protected.oldest()
            self._probation.add(oldest, protected.take(oldest))

    def _fill_main(self) -> None:
        """While the cache is filling, window overflow moves to main without a duel."""
        window = self._window
        while window.weight > self._window_max and window:
            oldest = window.oldest()
            size = window[oldest]
            if self._main_weight() + size > self._main_max:
                return
            self._probation.add(oldest, window.take(oldest))

    def _segment_of(self, key: Hashable) -> _Segment:
        for segment in (self._window, self._probation, self._protected):
            if key in segment:
                return segment
        raise KeyError(key)

    def _main_weight(self) -> int:
        return self._probation.weight + self._protected.weight

    # -- learning the window size ------------------------------------------------

    def _climb(self) -> None:
        """End of a sample: step the window toward the side that raised the hit ratio."""
        hit_ratio = self._hits / (self._hits + self._misses)
        self._hits = self._misses = 0
        if not self._full:
            return
        change = hit_ratio - self._previous_hit_ratio
        self._previous_hit_ratio = hit_ratio
        amount = self._step if change >= 0 else -self._step
        if abs(change) >= RESTART_THRESHOLD:
            self._step = self.step_share * self.capacity * (1 if amount >= 0 else -1)
        else:
            self._step = amount * STEP_DECAY
        self._resize_regions(self._window_max + amount)
        self._rescale_samples()

    def _resize_regions(self, window_max: float) -> None:
        self._window_max = min(max(window_max, 0.0), float(self.capacity))
        self._main_max = self.capacity - self._window_max
        self._protected_max = self.protected_share * self._main_max
        # A smaller window hands its oldest entries to main at once; a larger
        # one simply fills from new keys as main evicts.
        window = self._window
        while window.weight > self._window_max and window:
            oldest = window.oldest()
            self._probation.add(oldest, window.take(oldest))
        self._demote_protected()

    def _entries_hint(self) -> int:
        """Capacity in entries; weighted capacities are bytes, so use the observed count."""
        if not self.weighted:
            return self.capacity
        return max(64, len(self))

    def _rescale_samples(self) -> None:
        if self.weighted:
            entries = self._entries_hint()
            self._sample_size = max(64, int(self.sample_factor * entries))
            self._sketch.sample_size = max(16, SKETCH_FACTOR * entries)
            self._ghost_limit = entries
