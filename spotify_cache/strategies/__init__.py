"""Eviction strategies by name: ``lru``, ``lfu``, ``adaptive``, or a dotted path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.module_loading import import_string

from .base import Strategy

BUILTIN = {
    "lru": "spotify_cache.strategies.lru.LRUStrategy",
    "lfu": "spotify_cache.strategies.lfu.LFUStrategy",
    "adaptive": "spotify_cache.strategies.adaptive.AdaptiveStrategy",
}

StrategyFactory = Callable[..., Strategy]


def resolve_strategy(spec: Any) -> StrategyFactory:
    """Turn a name, dotted path, class or instance into a factory ``(capacity, weighted=)``.

    Raises ``ValueError`` naming ``spec`` when it does not lead to a ``Strategy``.
    """
    if isinstance(spec, Strategy):
        return lambda capacity, weighted=False: spec
    if isinstance(spec, str):
        spec = _import(BUILTIN.get(spec.lower(), spec))
    if isinstance(spec, type) and issubclass(spec, Strategy):
        return spec
    raise ValueError(f"{spec!r} is not a Strategy subclass")


def make_strategy(spec: Any, capacity: int, *, weighted: bool = False) -> Strategy:
    """Build the strategy ``spec`` names for a store of ``capacity``."""
    return resolve_strategy(spec)(capacity, weighted=weighted)


def _import(path: str) -> Any:
    if "." not in path:
        raise ValueError(
            f"unknown strategy {path!r}; use one of {sorted(BUILTIN)} or a dotted path"
        )
    try:
        return import_string(path)
    except ImportError as exc:
        raise ValueError(f"cannot import strategy {path!r}: {exc}") from exc


__all__ = ["BUILTIN", "Strategy", "make_strategy", "resolve_strategy"]
