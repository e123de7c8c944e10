"""Builders for the RBAC tests: partition rows synced from a partitioned cache, users
with global, object and group permissions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from guardian.shortcuts import assign_perm

from spotify_cache.models import AuditLogEntry, CachePartition
from spotify_cache.security.partitions_sync import sync_partitions


def synced_rows() -> dict[str, CachePartition]:
    """Rows of the ``default`` alias by name, synced from the current settings."""
    sync_partitions()
    return {r.name: r for r in CachePartition.objects.filter(alias="default", removed_at=None)}


def user(name: str, *, staff: bool = True, **fields: Any) -> Any:
    return get_user_model().objects.create_user(
        name, password=f"{name}-pw", is_staff=staff, **fields
    )


def fresh(account: Any) -> Any:
    """The user read again (``ModelBackend`` caches permissions on the instance)."""
    return get_user_model().objects.get(pk=account.pk)


def grant(account: Any, perm: str, row: CachePartition | None = None) -> None:
    """An object permission on ``row``, or the global permission without one."""
    if row is not None:
        assign_perm(f"spotify_cache.{perm}_cachepartition", account, row)
    else:
        account.user_permissions.add(
            Permission.objects.get(
                content_type__app_label="spotify_cache", codename=f"{perm}_cachepartition"
            )
        )


def group_with(name: str, perm: str, row: CachePartition, *members: Any) -> Group:
    group = Group.objects.create(name=name)
    assign_perm(f"spotify_cache.{perm}_cachepartition", group, row)
    for member in members:
        member.groups.add(group)
    return group


def denials() -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.filter(action="permission_denied").order_by("seq"))
