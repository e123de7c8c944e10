"""What a person runs on partitions, through the admin or a task: invalidate, warm, clear.

Each function checks the user's permission first (``rbac``: a denial is recorded
and raises ``PermissionDenied``), then acts and leaves an audit row: an
invalidation inside ``audit.acting_as(user, request)`` (recorded from the
``invalidated`` signal), warm runs and clears through ``audit.record``.  A task
started on a user's behalf loads the user and the row and calls the same
function, so the admin, tasks and ``CacheManager.for_user`` enforce one rule.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.dispatch import Signal

from ..models import CachePartition
from . import audit, rbac

logger = logging.getLogger("spotify_cache.security")

#: Pre-warming hook, sent by ``warm_partition`` once the permission is checked.
#: Arguments: ``sender`` (``CachePartition``), ``cache``, ``partition`` (the row),
#: ``user``, ``request``.  A receiver warms the partition and returns a short
#: summary for the audit row (a str or a small dict), or raises.  Nothing is
#: connected yet: the admin then reports "no warmers registered".
warm_requested = Signal()


def cache_of(row: CachePartition) -> Any:
    """The cache holding partition ``row``; ``LookupError`` if it is no longer configured."""
    if row.removed_at is None and row.alias in settings.CACHES:
        cache = caches[row.alias]
        if row.name in getattr(cache, "partitions", {}):
            return cache
    raise LookupError(f"partition {row} is no longer configured")


def invalidate_partition(
    user: Any,
    row: CachePartition,
    *,
    request: Any = None,
    checker: rbac.Checker | None = None,
    cause: str = "admin",
) -> None:
    """Invalidate every value of partition ``row`` on ``user``'s behalf."""
    cache = cache_of(row)
    rbac.require(
        user, "invalidate", row, request=request, operation="invalidate_partition", checker=checker
    )
    with audit.acting_as(user, request):
        cache.invalidate_partition(row.name, cause=cause, reason=f"{cause}: {_name(user)}")


@dataclass
class WarmResult:
    """What ``warm_partition`` did: how many warmers answered, and their summaries."""

    warmers: int = 0
    failed: int = 0
    summaries: list[Any] = field(default_factory=list)

    @property
    def message(self) -> str:
        if not self.warmers:
            return "no warmers registered"
        if self.failed:
            return f"{self.failed} of {self.warmers} warmers failed"
        return f"{self.warmers} warmer(s) ran"


def warm_partition(
    user: Any, row: CachePartition, *, request: Any = None, checker: rbac.Checker | None = None
) -> WarmResult:
    """Ask the registered warmers (``warm_requested``) to warm partition ``row``."""
    cache = cache_of(row)
    rbac.require(user, "warm", row, request=request, operation="warm", checker=checker)
    replies = warm_requested.send_robust(
        sender=CachePartition, cache=cache, partition=row, user=user, request=request
    )
    result = WarmResult(warmers=len(replies))
    for receiver, reply in replies:
        if isinstance(reply, Exception):
            result.failed += 1
            logger.error("warmer %r failed: %s", receiver, type(reply).__name__)
        else:
            result.summaries.append(reply)
    ok = result.warmers and not result.failed
    audit.record(
        "warm",
        actor=user,
        request=request,
        alias=row.alias,
        partition=row.name,
        outcome="ok" if ok else "failed",
        reason=result.message,
        details={"warmers": result.warmers, "failed": result.failed},
    )
    return result


def clear_cache(
    user: Any, cache: Any, *, request: Any = None, checker: rbac.Checker | None = None
) -> list[str]:
    """``cache.clear()`` on ``user``'s behalf: needs ``clear`` on every partition of the
    cache, since every one of them loses its values.  Returns the partitions' names."""
    names = partition_names(cache)
    alias = getattr(cache, "alias", None)
    rbac.require_all(
        user, "clear", alias, names, request=request, operation="clear", checker=checker
    )
    cache.clear()
    audit.record("clear", actor=user, request=request, alias=alias, details={"partitions": names})
    return names


def partition_names(cache: Any) -> list[str]:
    """Every partition of ``cache`` (``default`` for a cache without partitions)."""
    return sorted(getattr(cache, "partitions", None) or ["default"])


def _name(user: Any) -> str:
    return str(user.get_username()) if getattr(user, "is_authenticated", False) else "anonymous"
