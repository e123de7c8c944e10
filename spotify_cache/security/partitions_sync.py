"""``CachePartition`` rows kept in step with ``settings.CACHES`` after every ``migrate``.

Each partition of each ``SpotifyCache`` alias (``default`` included) gets a
row, created or updated with its prefix and policy.  A row whose partition is
no longer configured is kept and marked ``removed_at`` (its audit history keeps
a subject; configured again, it comes back with no permissions), and
``partition_removed`` is sent once for it: RBAC connects a receiver that deletes
the object permissions granted on it, so none are left orphaned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.exceptions import ImproperlyConfigured
from django.db import router, transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.module_loading import import_string

from ..models import CachePartition
from ..partitions import Partition, read_partitions
from .rows import plain_json

logger = logging.getLogger("spotify_cache.security")

#: A configured partition was removed from settings (sent once, after its row was
#: marked ``removed_at``, inside the sync's transaction).
#: Arguments: ``sender`` (``CachePartition``), ``partition`` (the row), ``using``.
partition_removed = Signal()


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    removed: int = 0


def configured() -> Iterator[tuple[str, Partition]]:
    """``(alias, partition)`` for every partition of every ``SpotifyCache`` alias."""
    from ..backend import SpotifyCache

    entries: Mapping[str, Mapping[str, Any]] = settings.CACHES
    for alias, entry in entries.items():
        try:
            backend = import_string(str(entry.get("BACKEND", "")))
        except ImportError:
            continue
        if isinstance(backend, type) and issubclass(backend, SpotifyCache):
            for partition in _partitions(str(alias), entry.get("OPTIONS") or {}):
                yield str(alias), partition


def _partitions(alias: str, options: Mapping[str, Any]) -> list[Partition]:
    # ``on_redis`` only decides which misplaced fields raise; the policies are the
    # same either way, and the cache itself refuses a misplaced field at start-up.
    for on_redis in (False, True):
        try:
            return list(read_partitions(options, on_redis=on_redis).values())
        except ImproperlyConfigured:
            continue
    logger.warning("CACHES[%r]: PARTITIONS is invalid; its partition rows were not synced", alias)
    return []


def policy(partition: Partition) -> dict[str, Any]:
    """The partition's policy as JSON (what the admin lists)."""
    timeout = partition.timeout
    data = {
        "prefix": partition.prefix,
        "timeout": "cache default" if timeout is DEFAULT_TIMEOUT else timeout,
        "max_timeout": partition.max_timeout,
        "codec": {k: _plugin(v) for k, v in partition.codec_options.items()},
        "store": {k: _plugin(v) for k, v in partition.store_options.items()},
    }
    return dict(plain_json(data))


def _plugin(value: Any) -> Any:
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return value


def sync_partitions(using: str | None = None) -> SyncResult:
    """Create, update and mark removed ``CachePartition`` rows to match the settings."""
    db = using or router.db_for_write(CachePartition)
    result, now = SyncResult(), timezone.now()
    wanted = {(alias, p.name): p for alias, p in configured()}
    with transaction.atomic(using=db):
        rows = {(r.alias, r.name): r for r in CachePartition.objects.using(db)}
        for ident, partition in wanted.items():
            _upsert(db, rows.get(ident), ident, partition, now, result)
        for ident, row in rows.items():
            if ident not in wanted and row.removed_at is None:
                _remove(db, row, now, result)
    return result


def _upsert(
    db: str,
    row: CachePartition | None,
    ident: tuple[str, str],
    partition: Partition,
    now: Any,
    result: SyncResult,
) -> None:
    fields = {"prefix": partition.prefix, "policy": policy(partition), "removed_at": None}
    if row is None:
        CachePartition.objects.using(db).create(
            alias=ident[0], name=ident[1], synced_at=now, **fields
        )
        result.created += 1
    elif any(getattr(row, k) != v for k, v in fields.items()):
        CachePartition.objects.using(db).filter(pk=row.pk).update(synced_at=now, **fields)
        result.updated += 1


def _remove(db: str, row: CachePartition, now: Any, result: SyncResult) -> None:
    row.removed_at = now
    row.save(using=db, update_fields=["removed_at"])
    result.removed += 1
    partition_removed.send(sender=CachePartition, partition=row, using=db)


def after_migrate(sender: Any, using: str = "default", apps: Any = None, **kwargs: Any) -> None:
    """``post_migrate`` receiver: sync, unless the table is not migrated (yet)."""
    try:
        apps.get_model("spotify_cache", "CachePartition")
    except (LookupError, AttributeError):
        return  # migrated backwards to before 0001, or called without the state's apps
    if not router.allow_migrate_model(using, CachePartition):
        return
    result = sync_partitions(using)
    if kwargs.get("verbosity", 1) >= 2:
        print(f"  spotify_cache partitions: {result}")
