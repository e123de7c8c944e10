"""Invalidation beyond single keys: model bindings and hooks.

``bind`` ties a model's rows to cache keys, tags and partitions, invalidated
after the commit of each save, delete or m2m change; ``invalidate_model``
does the same for writes that send no signals.  ``register_invalidation_hook``
calls your code after each invalidation.  See docs/invalidation.md.
"""

from __future__ import annotations

from .bindings import bind, invalidate_model
from .hooks import register_invalidation_hook, unregister_invalidation_hook

__all__ = [
    "bind",
    "invalidate_model",
    "register_invalidation_hook",
    "unregister_invalidation_hook",
]
