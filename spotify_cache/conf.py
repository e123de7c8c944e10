"""App-wide settings (``SPOTIFY_CACHE_*``), read lazily and reset on ``setting_changed``.

Per-cache knobs live in ``CACHES[alias]["OPTIONS"]``; this module only holds
the defaults shared by every cache.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    # Keys for AES-GCM / Fernet; used when a cache's OPTIONS has none.
    "ENCRYPTION_KEYS": (),
    # Redis URL used by ``CacheManager(backend="redis")`` when no alias "redis" exists.
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


@cache
def _read(name: str) -> Any:
    if not settings.configured:
        return DEFAULTS[name]
    return getattr(settings, f"SPOTIFY_CACHE_{name}", DEFAULTS[name])


def get(name: str) -> Any:
    """The value of ``SPOTIFY_CACHE_<name>`` or its default."""
    if name not in DEFAULTS:
        raise KeyError(f"unknown spotify_cache setting {name!r}")
    return _read(name)


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("SPOTIFY_CACHE_"):
        _read.cache_clear()
