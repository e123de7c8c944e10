"""What each row of the music app feeds in the cache, as spotify_cache model bindings.

``services.py`` writes every value with the tags of what it shows or was
computed from; saving or deleting a row (in the admin, or anywhere) then
invalidates those tags after the commit, and the next read recomputes.

=====================  ==========================================  =============================
tag                    written on                                  invalidated by
=====================  ==========================================  =============================
``track:<id>``         every list showing the track: top tracks,   the track (saved, deleted)
                       recommendations, charts, playlists
``artist:<id>``        every list showing the artist's name, the   the artist
                       artist page
``artist-tracks:<id>`` the artist page (aggregates its tracks)     any of its tracks, including
                                                                   one moved to or from it
``listener:<id>``      the most active listeners, the listener's   the listener
                       recommendations (their country picks them)
``plays:<id>``         the listener's top tracks                   a play of theirs (created,
                                                                   edited, deleted)
``playlist:<id>``      the playlist's track list                   an entry added, moved, removed
=====================  ==========================================  =============================

The binding on ``Track`` names ``artist-tracks:{artist_id}`` rather than
``artist:{artist_id}``: editing one track then leaves the lists that merely
show another track of the same artist cached.
"""

from __future__ import annotations

from django.conf import settings

from spotify_cache.invalidation import bind
from spotify_cache.invalidation.bindings import unbind
from spotify_cache.invalidation.targets import Binding

from .models import Artist, Listener, ListeningEvent, PlaylistEntry, Track

_bound: list[Binding] = []


def connect() -> list[Binding]:
    """Bind the music models (once; a second call returns the same bindings)."""
    if not _bound:
        _bound[:] = [
            bind(Track, tags=["track:{pk}", "artist-tracks:{artist_id}"]),
            bind(Artist, tags=["artist:{pk}", "artist-tracks:{pk}"]),
            bind(Listener, tags=["listener:{pk}"]),
            bind(ListeningEvent, tags=["plays:{listener_id}"]),
            bind(PlaylistEntry, tags=["playlist:{playlist_id}"]),
        ]
    return list(_bound)


def disconnect() -> None:
    """Remove the bindings ``connect`` made."""
    for binding in _bound:
        unbind(binding)
    _bound.clear()


def connect_if_enabled() -> None:
    """``connect()`` when ``settings.MUSIC_CACHE_BINDINGS`` is on (the example project's
    settings turn it on; the library's tests use the music models unbound)."""
    if getattr(settings, "MUSIC_CACHE_BINDINGS", False):
        connect()
