"""Invalidation beyond single keys: model bindings and hooks.

``bind`` ties a model's rows to cache keys, tags and partitions, invalidated
after the commit of each save, delete or m2m change; ``invalidate_model``
does the same for writes that send no signals.  ``register_invalidation_hook``
calls your code after each invalidation.  ``cached`` is race-safe
read-through for functions and methods.  See docs/invalidation.md.
"""

from __future__ import annotations

from .bindings import bind, invalidate_model
from .hooks import register_invalidation_hook, unregister_invalidation_hook
from .readthrough import cached

__all__ = [
    "bind",
    "cached",
    "invalidate_model",
    "register_invalidation_hook",
    "unregister_invalidation_hook",
]
