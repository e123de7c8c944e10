"""Admin: the audit log, read-only by construction, and the configured partitions.

The audit log admin can never add, change or delete a row, not even for a
superuser (the chain would say so anyway); it filters by action, outcome,
partition and actor, pages without counting the whole table, and warns when the
last ``verifyaudit`` failed.  A user without the global permission sees only the
entries of partitions they hold ``viewaudit`` on.

Partitions are listed read-only (rows come from settings) with their policy and
the keys they hold (memory stores only: counting on Redis would need a SCAN of
the database), guardian's per-object permission screens, and three actions,
each checked per selected partition and audited: invalidate, warm, clear.  See
docs/rbac.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse

from .backend import SpotifyCache
from .models import AuditLogEntry, AuditVerification, CachePartition
from .security import operations, rbac
from .stores.memory import MemoryStore

if apps.is_installed("guardian"):
    from guardian.admin import GuardedModelAdminMixin
else:  # without guardian: no per-object permission screens, global permissions only

    class GuardedModelAdminMixin:  # type: ignore[no-redef]
        """Stands in for guardian's mixin when guardian is not installed."""


#: Keys counted per cache and page view at most, on memory stores.
KEY_COUNT_LIMIT = 10_000


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
        scope = audit_scope(request)
        if scope is not None:
            return [(name, name) for name in sorted({name for _, name in scope})]
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """Every entry for a superuser or a global permission; else the entries of the
        partitions the user may ``viewaudit``."""
        entries = super().get_queryset(request)
        scope = audit_scope(request)
        if scope is None:
            return entries
        allowed = Q(pk__in=[])
        for alias, name in scope:
            allowed |= Q(alias=alias, partition=name)
        return entries.filter(allowed)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        scope = audit_scope(request)  # None: the whole log
        return super().has_view_permission(request, obj) or scope is None or bool(scope)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)


def audit_scope(request: HttpRequest) -> list[tuple[str, str]] | None:
    """``rbac.audit_scope`` of the request's user, looked up once per request."""
    try:
        scope: list[tuple[str, str]] | None = request._spotify_cache_audit_scope  # type: ignore[attr-defined]
    except AttributeError:
        scope = rbac.audit_scope(request.user)
        request._spotify_cache_audit_scope = scope  # type: ignore[attr-defined]
    return scope


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


# (type: ignore: guardian declares change_form_template as str, Django as str | None)
@admin.register(CachePartition)
class CachePartitionAdmin(GuardedModelAdminMixin, ReadOnlyAdmin):  # type: ignore[misc]
    """Rows read-only; guardian's permission screens; RBAC-gated, audited actions."""

    list_filter = ("alias", ("removed_at", admin.EmptyFieldListFilter))
    search_fields = ("alias", "name", "prefix")
    actions = ("invalidate_selected", "warm_selected", "clear_selected")

    def get_list_display(self, request: HttpRequest) -> Any:
        return ("alias", "name", "prefix", "policy_summary", keys_column(), "removed_at")

    @admin.display(description="policy")
    def policy_summary(self, row: CachePartition) -> str:
        return describe_policy(row.policy)

    # -- who sees what --------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """The partitions the user holds any partition permission on (global or object);
        on the permission screens, only partitions still configured."""
        rows = rbac.visible_partitions(request.user, queryset=super().get_queryset(request))
        return rows.filter(removed_at__isnull=True) if _on_permission_screen(request) else rows

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        visible = self.get_queryset(request)
        return (visible.filter(pk=obj.pk) if obj is not None else visible).exists()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Never for the rows, which come from settings.  Guardian gates its
        object-permission screens with this method: there it means "may grant
        permissions" (a superuser, or guardian's change permissions on both tables)."""
        return _on_permission_screen(request) and rbac.may_grant(request.user)

    # -- actions ----------------------------------------------------------------------
    @admin.action(description="Invalidate the selected partitions")
    def invalidate_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        done = _each(request, queryset, "invalidate", operations.invalidate_partition)
        if done:
            _report(request, messages.SUCCESS, "Invalidated", [row for row, _ in done])

    @admin.action(description="Warm the selected partitions")
    def warm_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for row, result in _each(request, queryset, "warm", operations.warm_partition):
            level = messages.SUCCESS if result.warmers and not result.failed else messages.WARNING
            messages.add_message(request, level, f"Warm {row}: {result.message}.")

    @admin.action(description="Clear the whole cache of the selected partitions")
    def clear_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        checker = rbac.Checker(request.user)
        for alias in sorted({row.alias for row in queryset}):
            if alias not in settings.CACHES:
                messages.warning(request, f"Cache {alias!r} is no longer configured: skipped.")
                continue
            try:
                names = operations.clear_cache(
                    request.user, caches[alias], request=request, checker=checker
                )
            except PermissionDenied as exc:
                messages.error(request, f"Permission denied (recorded): {exc}.")
            else:
                messages.success(request, f"Cleared cache {alias} ({', '.join(names)}).")


def _on_permission_screen(request: HttpRequest) -> bool:
    """Whether this request is for one of guardian's object-permission views."""
    match = getattr(request, "resolver_match", None)
    return match is not None and str(match.url_name).startswith(
        "spotify_cache_cachepartition_permissions"
    )


Operation = Callable[..., Any]


def _each(
    request: HttpRequest, queryset: QuerySet[Any], perm: str, operation: Operation
) -> list[tuple[CachePartition, Any]]:
    """Run ``operation`` on each selected row the user may ``perm`` (one prefetched
    check); report the refused (each audited) and the rows no longer configured."""
    rows = list(queryset)
    checker = rbac.Checker(request.user).prefetch(rows)
    done, denied, gone = [], [], []
    for row in rows:
        try:
            done.append((row, operation(request.user, row, request=request, checker=checker)))
        except PermissionDenied:
            denied.append(row)
        except LookupError:
            gone.append(row)
    if denied:
        _report(
            request, messages.ERROR, f"Permission denied (recorded): you may not {perm}", denied
        )
    if gone:
        _report(request, messages.WARNING, "No longer configured, skipped", gone)
    return done


def _report(request: HttpRequest, level: int, text: str, rows: Iterable[CachePartition]) -> None:
    rows = list(rows)
    noun = "partition" if len(rows) == 1 else "partitions"
    listed = ", ".join(str(row) for row in rows)
    messages.add_message(request, level, f"{text} {len(rows)} {noun}: {listed}.")


def describe_policy(policy: dict[str, Any]) -> str:
    """``timeout 3600 s, max 86400 s, NEAR_CACHE {...}`` from a row's policy JSON."""
    parts = [f"timeout {_seconds(policy.get('timeout', 'cache default'))}"]
    if policy.get("max_timeout") is not None:
        parts.append(f"max {_seconds(policy['max_timeout'])}")
    for group in ("codec", "store"):
        parts.extend(f"{k} {v}" for k, v in (policy.get(group) or {}).items())
    return ", ".join(parts)


def _seconds(value: Any) -> str:
    if value is None:
        return "never"
    return f"{value:g} s" if isinstance(value, int | float) else str(value)


def keys_column() -> Callable[[CachePartition], str]:
    """A column counting each cache's keys once for the page being rendered."""
    counted: dict[str, tuple[Counter[str], bool] | None] = {}

    @admin.display(description="keys held")
    def keys(row: CachePartition) -> str:
        if row.removed_at is not None:
            return "-"
        if row.alias not in counted:
            counted[row.alias] = count_keys(row.alias)
        found = counted[row.alias]
        if found is None:
            return "not counted"
        counts, capped = found
        return f"{counts[row.name]}+" if capped else str(counts[row.name])

    return keys


def count_keys(alias: str, limit: int = KEY_COUNT_LIMIT) -> tuple[Counter[str], bool] | None:
    """Keys held per partition of cache ``alias`` (invalidated ones too, until they
    expire or are evicted) and whether ``limit`` cut the count short; ``None`` unless
    the cache is on the memory store, whose keys are a walk through a dict."""
    cache = caches[alias] if alias in settings.CACHES else None
    if not isinstance(cache, SpotifyCache) or not isinstance(cache.store, MemoryStore):
        return None
    counts: Counter[str] = Counter()
    for seen, key in enumerate(cache.iter_keys("*"), 1):
        counts[cache.partition_of(key)] += 1
        if seen >= limit:
            return counts, True
    return counts, False
