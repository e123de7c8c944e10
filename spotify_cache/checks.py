"""System checks (``manage.py check``) over every ``SpotifyCache`` in ``CACHES``.

Ids:
  spotify_cache.E001  ENCRYPTION_KEYS malformed (not base64, not 32 bytes)
  spotify_cache.E002  unknown or unusable STRATEGY
  spotify_cache.E003  unknown or unusable SERIALIZER / COMPRESSOR / ALGORITHM
  spotify_cache.E004  LOCATION / STORE / other OPTIONS invalid
  spotify_cache.W001  no ENCRYPTION_KEYS while DEBUG is off (values authenticated, not encrypted)
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from . import options as config

BACKEND = "spotify_cache.backend.SpotifyCache"


def _our_caches() -> dict[str, dict[str, Any]]:
    return {a: p for a, p in settings.CACHES.items() if p.get("BACKEND") == BACKEND}


def _error_id(message: str) -> str:
    # Every ImproperlyConfigured from ``options`` starts with the setting it names.
    if message.startswith(("ENCRYPTION_KEYS[", "ENCRYPTION_KEYS /")):
        return "spotify_cache.E001"
    if message.startswith('OPTIONS["STRATEGY"]'):
        return "spotify_cache.E002"
    if message.startswith(
        ('OPTIONS["SERIALIZER"]', 'OPTIONS["COMPRESSOR"]', 'OPTIONS["ALGORITHM"]')
    ):
        return "spotify_cache.E003"
    return "spotify_cache.E004"


def check_cache(alias: str, params: dict[str, Any]) -> list[CheckMessage]:
    """Problems with one cache's configuration."""
    options = params.get("OPTIONS") or {}
    try:
        config.read_config(params.get("LOCATION", ""), options)
        config.codec(options)
    except ImproperlyConfigured as exc:
        return [Error(f"CACHES[{alias!r}]: {exc}", id=_error_id(str(exc)))]
    if not settings.DEBUG and not config.encryption_keys(options):
        return [_unencrypted(alias)]
    return []


def _unencrypted(alias: str) -> Warning:
    return Warning(
        f"CACHES[{alias!r}] has no ENCRYPTION_KEYS: values are authenticated but stored in clear.",
        hint="Set SPOTIFY_CACHE_ENCRYPTION_KEYS (manage.py generate_cache_key prints a key).",
        id="spotify_cache.W001",
    )


@register(Tags.caches, Tags.security)
def check_caches(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every ``SpotifyCache`` alias, checked."""
    messages: list[CheckMessage] = []
    for alias, params in _our_caches().items():
        messages.extend(check_cache(alias, params))
    return messages
