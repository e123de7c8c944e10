"""The eviction strategy contract shared by the memory store, the near-cache and the simulator.

A strategy only decides *which* keys a bounded store keeps; the store owns the
values, the sizes and the lock.  The store calls the hooks below while holding
its lock, so a strategy needs no locking of its own and must not block.

Call sequence, for one store:

* ``record_miss(key)``  a lookup found nothing (feeds frequency sketches, ghosts)
* ``on_hit(key)``       a lookup found ``key``
* ``on_insert(key, size)``  ``key`` was stored and was not present before
* ``on_update(key, size)``  ``key`` was stored over an existing entry
* ``on_remove(key)``    the store dropped ``key`` itself (delete, expiry)
* ``victim()``          the store is over capacity: choose one tracked key,
                         forget it and return it.  Returning the key that was
                         just inserted is how a strategy refuses admission.
* ``clear()``           every key is gone

Keys are opaque hashables; sizes are bytes (1 per entry for unsized traces).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable


class Strategy(ABC):
    """Base class of eviction strategies; subclasses keep their bookkeeping private."""

    #: Short name used in ``OPTIONS["STRATEGY"]`` and in reports.
    name = "base"

    def __init__(self, capacity: int, *, weighted: bool = False) -> None:
        """``capacity`` is the number of entries the store holds at most, or its
        byte budget when ``weighted`` is true; policies that size internal
        structures (sketches, windows, ghost lists) use it as a hint."""
        self.capacity = max(1, int(capacity))
        self.weighted = weighted

    def record_miss(self, key: Hashable) -> None:  # noqa: B027 - optional hook
        """A lookup for ``key`` found nothing."""

    @abstractmethod
    def on_hit(self, key: Hashable) -> None:
        """A lookup found ``key``."""

    @abstractmethod
    def on_insert(self, key: Hashable, size: int) -> None:
        """``key`` (not tracked before) was stored with ``size`` bytes."""

    def on_update(self, key: Hashable, size: int) -> None:
        """``key`` was overwritten; by default this counts as a hit."""
        self.on_hit(key)

    @abstractmethod
    def on_remove(self, key: Hashable) -> None:
        """The store dropped ``key`` for a reason of its own (delete, expiry)."""

    @abstractmethod
    def victim(self) -> Hashable:
        """Choose a tracked key to evict, stop tracking it and return it.

        Raises ``KeyError`` when nothing is tracked.
        """

    @abstractmethod
    def clear(self) -> None:
        """Forget every tracked key."""

    @abstractmethod
    def __len__(self) -> int:
        """How many keys are tracked."""
