"""Print a new key for ``ENCRYPTION_KEYS`` (url-safe base64 of 32 random bytes)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ...codecs.sealing import generate_key


class Command(BaseCommand):
    help = "Print a new key for SPOTIFY_CACHE_ENCRYPTION_KEYS or OPTIONS['ENCRYPTION_KEYS']."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(generate_key())
