"""Least recently used: evict the entry whose last access is oldest."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from .base import Strategy


class LRUStrategy(Strategy):
    """Classic LRU on an ordered dict: every hook is O(1)."""

    name = "lru"

    def __init__(self, capacity: int, *, weighted: bool = False) -> None:
        super().__init__(capacity, weighted=weighted)
        self._order: OrderedDict[Hashable, None] = OrderedDict()
        self.on_hit = self._order.move_to_end  # type: ignore[method-assign]  # the C method: no frame per hit

    def on_hit(self, key: Hashable) -> None:
        self._order.move_to_end(key)

    def on_insert(self, key: Hashable, size: int) -> None:
        self._order[key] = None

    def on_remove(self, key: Hashable) -> None:
        self._order.pop(key, None)

    def victim(self) -> Hashable:
        return self._order.popitem(last=False)[0]

    def clear(self) -> None:
        self._order.clear()

    def __len__(self) -> int:
        return len(self._order)
