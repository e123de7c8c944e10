"""The site's expensive reads, each an ORM aggregation cached through the Django cache API.

Every service returns a :class:`Cached`: the value plus whether it came from the
cache and how long the call took, so pages and the workload replay can report
hits and latency without looking inside the backend.

Cached values are plain lists and dicts of numbers and strings, so they survive
any serializer the backend is configured with (pickle, JSON, msgpack).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches
from django.db.models import Avg, Count, F, Sum

from spotify_cache import CacheManager

from .models import Artist, Listener, ListeningEvent, PlaylistEntry, Track

CACHE_ALIAS = "default"

# Volatile per-listener data gets short TTLs; it is also invalidated on write.
TOP_TRACKS_TTL = 10 * 60
RECOMMENDATIONS_TTL = 30 * 60
ARTIST_STATS_TTL = 60 * 60
CHART_TTL = 5 * 60
PLAYLIST_TTL = 10 * 60

# One entry per listener holds the deepest list any page asks for; callers
# slice it, so a single key is all that invalidation has to delete.
TOP_TRACKS_DEPTH = 50
RECOMMENDATIONS_DEPTH = 20
CHART_DEPTH = 50
NEIGHBOURS = 50

ACTIVE_LISTENERS_KEY = "spotify:listeners:active"

_MISSING = object()


@dataclass(frozen=True)
class Cached:
    """A service result: ``value``, ``hit`` (served from the cache) and ``elapsed_ms``."""

    value: Any
    hit: bool
    elapsed_ms: float


def top_tracks_key(listener_id: int) -> str:
    return f"spotify:user:{listener_id}:top_tracks"


def recommendations_key(listener_id: int) -> str:
    return f"spotify:user:{listener_id}:recommendations"


def artist_stats_key(artist_id: int) -> str:
    return f"spotify:artist:{artist_id}:stats"


def playlist_key(playlist_id: int) -> str:
    return f"spotify:playlist:{playlist_id}"


def chart_key(country: str | None) -> str:
    return f"spotify:chart:{(country or 'global').upper()}"


def _through_cache(key: str, ttl: int, compute: Callable[[], Any]) -> Cached:
    """Read ``key`` from the default cache, computing and storing it on a miss."""
    started = time.perf_counter()
    cache = caches[CACHE_ALIAS]
    value = cache.get(key, _MISSING)
    hit = value is not _MISSING
    if not hit:
        value = compute()
        cache.set(key, value, timeout=ttl)
    return Cached(value, hit, (time.perf_counter() - started) * 1000)


def _track_rows(queryset: Any, *fields: str) -> Any:
    return queryset.values(
        "track_id",
        *fields,
        title=F("track__title"),
        artist_id=F("track__artist_id"),
        artist=F("track__artist__name"),
    )


def top_tracks(listener_id: int, limit: int = 10) -> Cached:
    """The listener's most played tracks (plays, then listening time)."""

    def compute() -> list[dict[str, Any]]:
        rows = (
            _track_rows(ListeningEvent.objects.filter(listener_id=listener_id))
            .annotate(plays=Count("id"), ms_played=Sum("ms_played"))
            .order_by("-plays", "-ms_played", "track_id")[:TOP_TRACKS_DEPTH]
        )
        return list(rows)

    result = _through_cache(top_tracks_key(listener_id), TOP_TRACKS_TTL, compute)
    return Cached(result.value[:limit], result.hit, result.elapsed_ms)


def recommendations(listener_id: int, limit: int = 10) -> Cached:
    """Tracks the listener has not played, ranked by how many of their
    co-listeners (people who played the same tracks) played them.

    Listeners with no history get the most popular tracks of their country.
    """

    def compute() -> list[dict[str, Any]]:
        return _co_listened(listener_id) or _popular_in_country(listener_id)

    result = _through_cache(recommendations_key(listener_id), RECOMMENDATIONS_TTL, compute)
    return Cached(result.value[:limit], result.hit, result.elapsed_ms)


def _co_listened(listener_id: int) -> list[dict[str, Any]]:
    mine = ListeningEvent.objects.filter(listener_id=listener_id).values("track_id")
    ranked = (
        ListeningEvent.objects.filter(track_id__in=mine)
        .exclude(listener_id=listener_id)
        .values("listener_id")
        .annotate(shared=Count("track_id", distinct=True))
        .order_by("-shared", "listener_id")[:NEIGHBOURS]
    )
    neighbours = [row["listener_id"] for row in ranked]
    if not neighbours:
        return []
    rows = (
        _track_rows(ListeningEvent.objects.filter(listener_id__in=neighbours))
        .exclude(track_id__in=mine)
        .annotate(score=Count("listener_id", distinct=True), plays=Count("id"))
        .order_by("-score", "-plays", "track_id")[:RECOMMENDATIONS_DEPTH]
    )
    return [dict(row, reason="co-listened") for row in rows]


def _popular_in_country(listener_id: int) -> list[dict[str, Any]]:
    country = Listener.objects.filter(pk=listener_id).values_list("country", flat=True).first()
    return [
        dict(row, score=row["plays"], reason="popular")
        for row in global_chart(country).value[:RECOMMENDATIONS_DEPTH]
    ]


def global_chart(country: str | None = None, limit: int = CHART_DEPTH) -> Cached:
    """The most played tracks overall, or among listeners of one country."""

    def compute() -> list[dict[str, Any]]:
        events = ListeningEvent.objects.all()
        if country:
            events = events.filter(listener__country=country.upper())
        rows = (
            _track_rows(events)
            .annotate(plays=Count("id"), listeners=Count("listener_id", distinct=True))
            .order_by("-plays", "track_id")[:CHART_DEPTH]
        )
        return list(rows)

    result = _through_cache(chart_key(country), CHART_TTL, compute)
    return Cached(result.value[:limit], result.hit, result.elapsed_ms)


def active_listeners(limit: int = 10) -> Cached:
    """The listeners with the most plays."""

    def compute() -> list[dict[str, Any]]:
        rows = (
            ListeningEvent.objects.values("listener_id")
            .annotate(
                username=F("listener__username"), country=F("listener__country"), plays=Count("id")
            )
            .order_by("-plays", "listener_id")[:CHART_DEPTH]
        )
        return list(rows)

    result = _through_cache(ACTIVE_LISTENERS_KEY, CHART_TTL, compute)
    return Cached(result.value[:limit], result.hit, result.elapsed_ms)


def artist_stats(artist_id: int) -> Cached:
    """Catalogue and listening statistics of one artist, through the ``CacheManager`` facade.

    Raises ``Artist.DoesNotExist`` for an unknown id (nothing is cached then).
    """
    started = time.perf_counter()
    cache = CacheManager(backend=CACHE_ALIAS)
    key = artist_stats_key(artist_id)
    value = cache.get(key)
    hit = value is not None
    if not hit:
        value = _compute_artist_stats(artist_id)
        cache.set(key, value, ttl=ARTIST_STATS_TTL)
    return Cached(value, hit, (time.perf_counter() - started) * 1000)


def _compute_artist_stats(artist_id: int) -> dict[str, Any]:
    artist = Artist.objects.get(pk=artist_id)
    tracks = Track.objects.filter(artist_id=artist_id)
    events = ListeningEvent.objects.filter(track__artist_id=artist_id)
    catalogue = tracks.aggregate(
        tracks=Count("id"),
        avg_popularity=Avg("popularity"),
        avg_energy=Avg("energy"),
        avg_danceability=Avg("danceability"),
        avg_tempo=Avg("tempo"),
    )
    listening = events.aggregate(
        plays=Count("id"),
        listeners=Count("listener_id", distinct=True),
        ms_played=Sum("ms_played"),
    )
    top = tracks.annotate(plays=Count("events")).order_by("-plays", "id")
    countries = events.values(country=F("listener__country")).annotate(plays=Count("id"))
    return {
        "artist_id": artist.pk,
        "name": artist.name,
        "genres": artist.genre_list,
        **{k: round(v, 3) if isinstance(v, float) else v for k, v in catalogue.items()},
        **listening,
        "ms_played": listening["ms_played"] or 0,
        "top_tracks": list(top.values("id", "title", "plays")[:5]),
        "top_countries": list(countries.order_by("-plays", "country")[:5]),
    }


def playlist_tracks(playlist_id: int) -> Cached:
    """The playlist's tracks in order, with their total duration."""

    def compute() -> dict[str, Any]:
        entries = PlaylistEntry.objects.filter(playlist_id=playlist_id).order_by("position")
        rows = list(_track_rows(entries, "position").annotate(duration_ms=F("track__duration_ms")))
        return {"tracks": rows, "duration_ms": sum(row["duration_ms"] for row in rows)}

    return _through_cache(playlist_key(playlist_id), PLAYLIST_TTL, compute)


def forget_playlist(playlist_id: int) -> None:
    """Drop the playlist's cached track list (an entry was added, moved or removed)."""
    caches[CACHE_ALIAS].delete(playlist_key(playlist_id))


def forget_listener(listener_id: int) -> None:
    """Drop the listener's cached top tracks (their listening history changed)."""
    caches[CACHE_ALIAS].delete(top_tracks_key(listener_id))


def forget_all(
    listener_ids: Iterable[int],
    artist_ids: Iterable[int],
    playlist_ids: Iterable[int],
    countries: Iterable[str],
) -> None:
    """Drop every cached result for these ids and countries (after reseeding)."""
    keys = [ACTIVE_LISTENERS_KEY, chart_key(None)] + [chart_key(c) for c in countries]
    keys += [playlist_key(playlist_id) for playlist_id in playlist_ids]
    for listener_id in listener_ids:
        keys += [top_tracks_key(listener_id), recommendations_key(listener_id)]
    keys += [artist_stats_key(artist_id) for artist_id in artist_ids]
    caches[CACHE_ALIAS].delete_many(keys)
