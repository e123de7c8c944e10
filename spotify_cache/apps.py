"""App configuration: system checks, and the place side channels subscribe."""

from __future__ import annotations

from django.apps import AppConfig


class SpotifyCacheConfig(AppConfig):
    name = "spotify_cache"
    verbose_name = "Spotify cache"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import checks  # noqa: F401  (registers the checks)
        from .invalidation import bindings, hooks
        from .security import partitions_sync, rbac, receivers

        hooks.connect()
        bindings.load_settings()
        bindings.connect_receivers()
        receivers.connect()  # the audit log
        rbac.connect()  # object permissions of removed partitions are deleted
        post_migrate.connect(
            partitions_sync.after_migrate, sender=self, dispatch_uid="spotify_cache.partitions"
        )
