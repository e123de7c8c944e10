"""Admin: the audit log, read-only by construction, and the configured partitions.

The audit log admin can never add, change or delete a row, not even for a
superuser (the chain would say so anyway); it filters by action, outcome,
partition and actor, pages without counting the whole table, and warns when the
last ``verifyaudit`` failed.  Partitions are listed with their policy (rows come
from settings; the RBAC screens replace this admin).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from .models import AuditLogEntry, AuditVerification, CachePartition


class ReadOnlyAdmin(admin.ModelAdmin):
    """No add, change or delete for anyone; rows are only viewed."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PartitionFilter(admin.SimpleListFilter):
    """Partition names from the small ``CachePartition`` table, not a DISTINCT over the log."""

    title = "partition"
    parameter_name = "partition"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = CachePartition.objects.order_by("name").values_list("name", flat=True).distinct()
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(partition=self.value()) if self.value() else queryset


class ActorFilter(admin.SimpleListFilter):
    """Staff users (who act through the admin and commands) and "nobody" (the system);
    search ``actor_label`` for anyone else."""

    title = "actor"
    parameter_name = "actor"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        users = get_user_model()._default_manager.order_by("pk")
        if any(f.name == "is_staff" for f in users.model._meta.get_fields()):
            users = users.filter(is_staff=True)
        return [("none", "nobody (system)")] + [(str(u.pk), u.get_username()) for u in users[:100]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "none":
            return queryset.filter(actor_ref="")
        return queryset.filter(actor_ref=self.value()) if self.value() else queryset


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(ReadOnlyAdmin):
    list_display = ("seq", "time", "action", "outcome", "alias", "partition", "who", "reason")
    list_filter = ("action", "outcome", PartitionFilter, ActorFilter)
    date_hierarchy = "time"
    search_fields = ("actor_label", "reason", "key_hash", "request_id", "=remote_addr")
    list_select_related = ("actor",)
    show_full_result_count = False
    ordering = ("-seq",)

    @admin.display(description="actor", ordering="actor_label")
    def who(self, entry: AuditLogEntry) -> str:
        """The recorded (authenticated) name; the user's name today if it changed."""
        label = entry.actor_label or "-"
        if entry.actor_ref and entry.actor is None:
            return f"{label} (deleted)"
        current = entry.actor.get_username() if entry.actor is not None else label
        return label if current == label else f"{label} (now {current})"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        _verification_badge(request)
        return super().changelist_view(request, extra_context)


def _verification_badge(request: HttpRequest) -> None:
    last = AuditVerification.objects.order_by("-time").first()
    if last is None:
        messages.warning(request, "The audit log was never verified: run manage.py verifyaudit.")
    elif not last.ok:
        messages.error(
            request,
            f"Audit log verification FAILED at {last.time:%Y-%m-%d %H:%M:%S %Z}: {last.problem}",
        )
    else:
        messages.info(
            request,
            f"Audit log verified at {last.time:%Y-%m-%d %H:%M:%S %Z} ({last.checked} rows).",
        )


@admin.register(CachePartition)
class CachePartitionAdmin(ReadOnlyAdmin):
    list_display = ("alias", "name", "prefix", "policy", "removed_at")
    list_filter = ("alias", ("removed_at", admin.EmptyFieldListFilter))
    search_fields = ("alias", "name", "prefix")
