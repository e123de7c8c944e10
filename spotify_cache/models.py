"""Models: the configured partitions (what RBAC permissions attach to) and the audit log.

``CachePartition`` rows mirror ``settings.CACHES`` (``security.partitions_sync``
keeps them in sync after ``migrate``); the audit tables are written only by
``security.chain`` and read by ``verifyaudit``, ``pruneaudit`` and the admin.
See docs/audit.md.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class CachePartition(models.Model):
    """One partition of one ``SpotifyCache`` alias, as configured in ``settings.CACHES``.

    Never deleted while configured; a partition no longer configured keeps its row
    with ``removed_at`` set (its audit entries and history keep their subject), and
    ``security.partitions_sync.partition_removed`` is sent once so its object
    permissions can be cleaned up.
    """

    alias = models.CharField(max_length=100)
    name = models.CharField(max_length=64)
    prefix = models.TextField(blank=True)
    policy = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("alias", "name")
        constraints = (
            models.UniqueConstraint(fields=("alias", "name"), name="spotify_cache_partition_uniq"),
        )
        # Rows come from settings: no add/change/delete permissions to hand out.
        default_permissions = ("view",)
        permissions = (
            ("invalidate_cachepartition", "Can invalidate the partition's values"),
            ("warm_cachepartition", "Can warm the partition"),
            ("clear_cachepartition", "Can clear the partition"),
            ("rotatekeys_cachepartition", "Can rotate the partition's keys"),
            ("viewaudit_cachepartition", "Can view the partition's audit log"),
        )

    def __str__(self) -> str:
        return f"{self.alias}/{self.name}"


class Action(models.TextChoices):
    VALUE_REJECTED = "value_rejected", "value rejected"
    PERMISSION_DENIED = "permission_denied", "permission denied"
    INVALIDATE = "invalidate", "invalidate"
    WARM = "warm", "warm"
    CLEAR = "clear", "clear"
    ROTATE_KEYS = "rotate_keys", "rotate keys"
    CIRCUIT_CHANGED = "circuit_changed", "circuit changed"
    PRUNE_AUDIT = "prune_audit", "prune audit log"


class Outcome(models.TextChoices):
    OK = "ok", "ok"
    REJECTED = "rejected", "rejected"
    DENIED = "denied", "denied"
    FAILED = "failed", "failed"


class AuditLogEntry(models.Model):
    """One security event, chained: ``row_hash`` is an HMAC over the row's fields
    and ``prev_hash`` (see ``security.chain``).  ``actor`` is a convenience link
    that becomes NULL when the user is deleted; ``actor_ref`` (the user's pk when
    recorded) and ``actor_label`` are the authenticated identity."""

    seq = models.BigIntegerField(unique=True)
    time = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        # No database constraint: an event of a user deleted before the writer got to
        # it still lands (the chain keeps the pk in actor_ref), and writing the log
        # never waits on locks of the user table.
        db_constraint=False,
    )
    actor_ref = models.CharField(max_length=64, blank=True, db_index=True)
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    alias = models.CharField(max_length=100, blank=True)
    partition = models.CharField(max_length=64, blank=True, db_index=True)
    key_hash = models.CharField(max_length=64, blank=True, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.CharField(max_length=255, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    row_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ("-seq",)
        default_permissions = ("view",)
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log entries"

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.outcome}"


class AuditChainHead(models.Model):
    """The single row every writer locks to append: the last ``seq`` and ``row_hash``,
    signed, so rows cut from the end of the chain are noticed."""

    seq = models.BigIntegerField()
    row_hash = models.CharField(max_length=64)
    mac = models.CharField(max_length=64)

    class Meta:
        default_permissions = ()


class AuditCheckpoint(models.Model):
    """Left by ``pruneaudit``: the ``seq`` and ``row_hash`` of the last removed row,
    signed; the remaining rows verify from it."""

    seq = models.BigIntegerField(unique=True)
    row_hash = models.CharField(max_length=64)
    pruned_before = models.DateTimeField()
    removed = models.BigIntegerField()
    created = models.DateTimeField()
    mac = models.CharField(max_length=64)

    class Meta:
        ordering = ("-seq",)
        default_permissions = ("view",)


class AuditVerification(models.Model):
    """The outcome of one ``verifyaudit`` run (the admin shows the latest as a badge)."""

    time = models.DateTimeField(db_index=True)
    ok = models.BooleanField()
    checked = models.BigIntegerField(default=0)
    head_seq = models.BigIntegerField(null=True, blank=True)
    first_bad_seq = models.BigIntegerField(null=True, blank=True)
    problem = models.TextField(blank=True)

    class Meta:
        ordering = ("-time",)
        default_permissions = ("view",)
        get_latest_by = "time"
