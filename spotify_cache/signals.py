"""Signals the backend fires; metrics, audit and sampling subscribe to them.

Receivers run synchronously on the request path: keep them cheap and never
raise.  No signal ever carries a cached value or a secret.
"""

from __future__ import annotations

from django.dispatch import Signal

#: A stored blob was refused and read as a miss.
#: Arguments: ``sender`` (backend class), ``cache`` (backend instance),
#: ``key`` (the full store key), ``reason`` (short code such as
#: ``"auth"``, ``"truncated"``, ``"version"``, ``"key_id"``, ``"too_large"``).
value_rejected = Signal()

#: A key was invalidated through ``CacheManager.invalidate``.
#: Arguments: ``sender``, ``cache``, ``key`` (the caller's key), ``deleted`` (bool).
invalidated = Signal()
