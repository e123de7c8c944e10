"""App configuration: system checks, and the place side channels subscribe."""

from __future__ import annotations

from django.apps import AppConfig


class SpotifyCacheConfig(AppConfig):
    name = "spotify_cache"
    verbose_name = "Spotify cache"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the checks)
        from .invalidation import bindings, hooks

        hooks.connect()
        bindings.load_settings()
        bindings.connect_receivers()
