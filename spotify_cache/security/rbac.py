"""Role-based access to cache partitions: django-guardian object permissions on
``CachePartition`` rows, with model-level (global) permissions as the fallback.

A user holds a permission (``PERMISSIONS``: view, invalidate, warm, clear,
rotatekeys, viewaudit) on a partition when they are an active superuser, hold it
globally (``user.has_perm("spotify_cache.invalidate_cachepartition")``, directly
or through a group: Django's ``ModelBackend``), or hold it on that partition's row
(guardian, directly or through a group).  Anonymous and inactive users hold
nothing.  A partition without a row (not synced yet, or a standalone cache)
falls back to the global permission alone.  Without guardian installed, only
global permissions count.

``Checker`` answers for one user and prefetches guardian's rows for every
partition it is about to be asked about (``ObjectPermissionChecker.prefetch_perms``),
so a check over N partitions costs the same few queries for any N.  ``require``
and ``require_all`` record a denial (``permission_denied``) before raising
``PermissionDenied``: the admin actions, ``invalidatecache --as-user``,
``CacheManager.for_user`` and tasks started on a user's behalf all go through
them.  The object permissions of a partition removed from settings (or of a
deleted row) are deleted with it.  See docs/rbac.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db.models.signals import post_delete

from ..models import AuditLogEntry, CachePartition
from . import audit
from .partitions_sync import partition_removed

APP = "spotify_cache"
#: Short name -> codename of each permission on ``CachePartition``.
PERMISSIONS: Mapping[str, str] = {
    "view": "view_cachepartition",
    "invalidate": "invalidate_cachepartition",
    "warm": "warm_cachepartition",
    "clear": "clear_cachepartition",
    "rotatekeys": "rotatekeys_cachepartition",
    "viewaudit": "viewaudit_cachepartition",
}
_CODENAMES = frozenset(PERMISSIONS.values())
_UID = "spotify_cache.security.rbac."


def codename(perm: str) -> str:
    """``"invalidate"``, ``"invalidate_cachepartition"`` or
    ``"spotify_cache.invalidate_cachepartition"`` -> ``"invalidate_cachepartition"``."""
    name = perm.removeprefix(APP + ".")
    name = PERMISSIONS.get(name, name)
    if name not in _CODENAMES:
        raise ValueError(f"unknown partition permission {perm!r}; known: {sorted(PERMISSIONS)}")
    return name


def guardian_enabled() -> bool:
    """Whether object permissions are in play (``guardian`` in ``INSTALLED_APPS``)."""
    return apps.is_installed("guardian")


class Checker:
    """One user's permissions on partitions; reuse it across a loop, after ``prefetch``."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self.active = bool(
            user is not None
            and getattr(user, "is_authenticated", False)
            and getattr(user, "is_active", False)
        )
        self._objects: Any = None

    def prefetch(self, rows: Iterable[CachePartition | None]) -> Checker:
        """Load the user's and their groups' object permissions on ``rows`` in two queries."""
        found = [row for row in rows if row is not None]
        if found and self.active and not self.user.is_superuser and guardian_enabled():
            self._guardian().prefetch_perms(found)
        return self

    def has(self, perm: str, row: CachePartition | None) -> bool:
        """Whether the user holds ``perm`` on ``row`` (``None``: a partition without a row)."""
        if not self.active:
            return False
        name = codename(perm)
        if self.globally(name):
            return True
        return row is not None and guardian_enabled() and self._guardian().has_perm(name, row)

    def globally(self, perm: str) -> bool:
        """The model-level permission (``ModelBackend`` caches it on the user object)."""
        return self.active and bool(self.user.has_perm(f"{APP}.{codename(perm)}"))

    def _guardian(self) -> Any:
        if self._objects is None:
            from guardian.core import ObjectPermissionChecker

            self._objects = ObjectPermissionChecker(self.user)
        return self._objects


def has(user: Any, perm: str, row: CachePartition | None) -> bool:
    """Whether ``user`` holds ``perm`` on the partition ``row``."""
    return Checker(user).has(perm, row)


def permitted(
    user: Any, perm: str, rows: Iterable[CachePartition], checker: Checker | None = None
) -> tuple[list[CachePartition], list[CachePartition]]:
    """``(allowed, refused)`` among ``rows``, checked with one prefetch."""
    rows = list(rows)
    checker = (checker or Checker(user)).prefetch(rows)
    allowed = [row for row in rows if checker.has(perm, row)]
    granted = {row.pk for row in allowed}
    return allowed, [row for row in rows if row.pk not in granted]


def partition_rows(alias: str | None, names: Iterable[str]) -> dict[str, CachePartition]:
    """The live rows of partitions ``names`` of cache ``alias``, by name (one query)."""
    names = set(names)
    if alias is None or not names:
        return {}
    found = CachePartition.objects.filter(alias=alias, name__in=names, removed_at__isnull=True)
    return {row.name: row for row in found}


# -- enforcing ------------------------------------------------------------------------
def require(
    user: Any,
    perm: str,
    row: CachePartition,
    *,
    request: Any = None,
    key: str | None = None,
    operation: str = "",
    checker: Checker | None = None,
) -> None:
    """Raise ``PermissionDenied`` unless ``user`` holds ``perm`` on ``row``; the denial
    is recorded first.  What a task started on a user's behalf calls before acting."""
    if not (checker or Checker(user)).has(perm, row):
        deny(user, perm, row.alias, [row.name], request=request, key=key, operation=operation)


def require_all(
    user: Any,
    perm: str,
    alias: str | None,
    names: Iterable[str],
    *,
    request: Any = None,
    key: str | None = None,
    operation: str = "",
    checker: Checker | None = None,
) -> None:
    """Raise ``PermissionDenied`` (recorded once) unless ``user`` holds ``perm`` on every
    partition ``names`` of cache ``alias``."""
    names = sorted(set(names))
    rows = partition_rows(alias, names)
    checker = (checker or Checker(user)).prefetch(rows.values())
    lacking = [name for name in names if not checker.has(perm, rows.get(name))]
    if lacking:
        deny(user, perm, alias, lacking, request=request, key=key, operation=operation)


def deny(
    user: Any,
    perm: str,
    alias: str | None,
    partitions: list[str],
    *,
    request: Any = None,
    key: str | None = None,
    operation: str = "",
) -> None:
    """Record a ``permission_denied`` event and raise ``PermissionDenied``."""
    record_denial(user, perm, alias, partitions, request=request, key=key, operation=operation)
    who = user.get_username() if getattr(user, "is_authenticated", False) else "anonymous"
    where = ", ".join(f"{alias}/{name}" for name in partitions)
    raise PermissionDenied(f"{who} lacks {APP}.{codename(perm)} on {where}")


def record_denial(
    user: Any,
    perm: str,
    alias: str | None,
    partitions: list[str],
    *,
    request: Any = None,
    key: str | None = None,
    operation: str = "",
) -> None:
    """The audit row of a denial: the partition when one, every name in ``details``."""
    name = codename(perm)
    audit.record(
        "permission_denied",
        actor=user,
        request=request,
        alias=alias,
        partition=partitions[0] if len(partitions) == 1 else None,
        key=key,
        outcome="denied",
        reason=f"lacks {APP}.{name}" + (f" ({operation})" if operation else ""),
        details={"permission": name, "operation": operation, "partitions": partitions},
    )


# -- what a user may see -------------------------------------------------------------
def visible_partitions(user: Any, perms: Iterable[str] = PERMISSIONS, queryset: Any = None) -> Any:
    """The rows of ``queryset`` (default: every ``CachePartition``) on which ``user``
    holds any of ``perms``, globally or on the row (one query, through guardian)."""
    codenames = [codename(p) for p in perms]
    checker = Checker(user)
    rows = CachePartition.objects.all() if queryset is None else queryset
    if any(checker.globally(name) for name in codenames):
        return rows
    if not checker.active or not guardian_enabled():
        return rows.none()
    from guardian.shortcuts import get_objects_for_user

    return get_objects_for_user(
        user, codenames, klass=rows, any_perm=True, accept_global_perms=False
    )


def may_grant(user: Any) -> bool:
    """Whether ``user`` may grant object permissions on partitions (guardian's screens):
    an active superuser, or guardian's change permission on user and group permissions."""
    if not Checker(user).active or not guardian_enabled():
        return False
    return bool(
        user.has_perms(
            ["guardian.change_userobjectpermission", "guardian.change_groupobjectpermission"]
        )
    )


def audit_scope(user: Any) -> list[tuple[str, str]] | None:
    """``None`` if ``user`` may read the whole audit log (a superuser, the global
    ``view_auditlogentry`` or ``viewaudit_cachepartition``), else the
    ``(alias, partition)`` pairs whose entries they may read (``viewaudit`` objects)."""
    checker = Checker(user)
    if checker.globally("viewaudit") or (
        checker.active and user.has_perm(f"{APP}.view_{AuditLogEntry._meta.model_name}")
    ):
        return None
    rows = visible_partitions(user, ["viewaudit"])
    return list(rows.values_list("alias", "name"))


# -- cleaning up ---------------------------------------------------------------------
def forget_permissions(partition: CachePartition, using: str | None = None) -> int:
    """Delete every user and group object permission granted on ``partition``."""
    if not guardian_enabled():
        return 0
    from guardian.ctypes import get_content_type
    from guardian.utils import get_group_obj_perms_model, get_user_obj_perms_model

    deleted = 0
    models: list[Any] = [get_user_obj_perms_model(partition), get_group_obj_perms_model(partition)]
    for model in models:
        rows = model.objects.using(using) if using else model.objects.all()
        if model.objects.is_generic():
            rows = rows.filter(
                content_type=get_content_type(partition), object_pk=str(partition.pk)
            )
        else:
            rows = rows.filter(content_object=partition)
        deleted += rows.delete()[0]
    return deleted


def _on_removed(sender: Any, partition: CachePartition, using: str | None = None, **_: Any) -> None:
    forget_permissions(partition, using)


def _on_deleted(sender: Any, instance: CachePartition, using: str | None = None, **_: Any) -> None:
    forget_permissions(instance, using)


def connect() -> None:
    """Delete a partition's object permissions when it leaves settings or its row goes."""
    partition_removed.connect(_on_removed, dispatch_uid=_UID + "removed")
    post_delete.connect(_on_deleted, sender=CachePartition, dispatch_uid=_UID + "deleted")
