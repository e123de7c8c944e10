"""spotify_cache: a secure, observable Django cache backend (memory and Redis).

``from spotify_cache import CacheManager`` gives the seed's facade; the Django
backend is ``spotify_cache.backend.SpotifyCache``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .manager import CacheManager


def __getattr__(name: str) -> Any:
    # Imported lazily so that importing the package never touches settings.
    if name == "CacheManager":
        from .manager import CacheManager

        return CacheManager
    raise AttributeError(name)


__all__ = ["CacheManager", "__version__"]
