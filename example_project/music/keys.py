"""Cache keys of the music app: one prefix per business domain.

``settings.py`` declares one cache partition per prefix (``PREFIXES``), so
every key built here falls into its domain's partition and takes that
partition's TTLs and bounds.  No Django imports: settings import this module.
"""

from __future__ import annotations

LISTENERS = "spotify:user:"  # per-listener data, invalidated on every play
RECOMMENDATIONS = "spotify:recommendations:"  # expensive, per listener
TRACKS = "spotify:tracks:"  # lists of tracks every listener shares

#: Partition name -> key prefix.
PREFIXES = {"listeners": LISTENERS, "recommendations": RECOMMENDATIONS, "tracks": TRACKS}

ACTIVE_LISTENERS = f"{LISTENERS}active"


def top_tracks(listener_id: int) -> str:
    return f"{LISTENERS}{listener_id}:top_tracks"


def recommendations(listener_id: int) -> str:
    return f"{RECOMMENDATIONS}{listener_id}"


def chart(country: str | None) -> str:
    return f"{TRACKS}chart:{(country or 'global').upper()}"


def artist_stats(artist_id: int) -> str:
    return f"{TRACKS}artist:{artist_id}"


def playlist(playlist_id: int) -> str:
    return f"{TRACKS}playlist:{playlist_id}"
