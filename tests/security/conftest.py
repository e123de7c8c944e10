"""Fixtures for the audit log: a partitioned cache alias, events recorded in the test's
transaction (``SPOTIFY_CACHE_AUDIT_SYNC`` is on in tests/settings.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches

from spotify_cache.models import AuditLogEntry
from spotify_cache.security import audit

PARTITIONS = {
    "listeners": {"PREFIX": "spotify:user:", "TIMEOUT": 60},
    "catalog": {"PREFIX": "spotify:track:"},
}
_names = itertools.count()


@pytest.fixture
def cache(settings) -> Iterator[Any]:
    """``caches["default"]``: the memory store with two partitions."""
    settings.CACHES = {
        "default": {
            "BACKEND": "spotify_cache.backend.SpotifyCache",
            "LOCATION": f"memory://audit-{next(_names)}",
            "KEY_PREFIX": "audit",
            "OPTIONS": {"PARTITIONS": PARTITIONS},
        }
    }
    yield caches["default"]
    caches["default"].clear()


def entries() -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.order_by("seq"))


def populate(count: int, **fields: Any) -> list[AuditLogEntry]:
    """``count`` permission-denied events, written now (sync mode)."""
    for n in range(count):
        assert audit.record("permission_denied", outcome="denied", reason=f"event {n}", **fields)
    return entries()
