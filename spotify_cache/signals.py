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

#: Something was invalidated (``invalidate``, ``invalidate_tags``,
#: ``invalidate_partition``, and everything built on them: model bindings,
#: ``manage.py invalidatecache``).  Sent after the store has done it.
#: Arguments: ``sender`` (backend class), ``cache`` (backend instance),
#: ``alias`` (the ``CACHES`` alias or ``None``), ``kind`` (``"key"``,
#: ``"glob"``, ``"tag"`` or ``"partition"``), ``targets`` (tuple of caller
#: keys, the glob, tag names or the partition name), ``count`` (values
#: removed when known, else ``None``: tags and partitions are O(1) and do not
#: count), ``cause`` (``kind``, or ``"model"`` when a model binding caused
#: it), ``reason`` (free text, never a value).
invalidated = Signal()

#: A fail-open circuit breaker changed state (``stores.failover``); sent once
#: per change, after it is made, from whichever thread made it.
#: Arguments: ``sender`` (``FailoverStore``), ``location`` (the remote's
#: location without user, password or query, e.g. ``redis://10.0.0.5:6379/0``),
#: ``namespace`` (the glob of the cache keys behind it: which cache),
#: ``store`` (the remote store's class name, e.g. ``"RedisStore"``), ``old`` and
#: ``new`` (``"closed"``, ``"open"`` or ``"half_open"``), ``reason`` (a short
#: code: ``"StoreUnavailable (TimeoutError)"``, ``"probe interval elapsed"``,
#: ``"probe succeeded"``, ``"probe failed: ..."``, ``"probe abandoned"``; error
#: type names only, never a message, a key or a value).
circuit_changed = Signal()
