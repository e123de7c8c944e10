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
