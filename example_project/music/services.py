"""The site's expensive reads, each an ORM aggregation cached through the Django cache API.

Every service returns a :class:`Cached`: the value plus whether it came from the
cache and how long the call took, so pages and the workload replay can report
hits and latency without looking inside the backend.

Keys come from ``keys.py`` (one prefix, hence one partition, per domain); a
value's TTL is its partition's unless said otherwise here.  Every value is
written with the tags of the rows it shows or was computed from (see
``cache_bindings.py``), so saving one of those rows invalidates it.

Cached values are plain lists and dicts of numbers and strings, so they survive
any serializer the backend is configured with (pickle, JSON, msgpack).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.db.models import Avg, Count, F, Sum

from . import keys
from .models import Artist, Listener, ListeningEvent, PlaylistEntry, Track

CACHE_ALIAS = "default"

# Aggregates over everybody's plays drift with each play, and no binding
# invalidates them (it would, all the time): they ask for a short TTL.
CHART_TTL = 5 * 60

# One entry per listener holds the deepest list any page asks for; callers
# slice it, so a single key is all that invalidation has to delete.
TOP_TRACKS_DEPTH = 50
RECOMMENDATIONS_DEPTH = 20
CHART_DEPTH = 50
NEIGHBOURS = 50

_MISSING = object()


@dataclass(frozen=True)
class Cached:
    """A service result: ``value``, ``hit`` (served from the cache) and ``elapsed_ms``."""

    value: Any
    hit: bool
    elapsed_ms: float


Tags = Callable[[Any], Iterable[str]]


def _through_cache(
    key: str, compute: Callable[[], Any], tags: Tags, timeout: Any = DEFAULT_TIMEOUT
) -> Cached:
    """Read ``key`` from the default cache; on a miss compute it and store it
    with ``tags(value)``.

    The tags come from the rows loaded, so they are known only after the load:
    the value is written with ``set``.  (``get_or_set`` is race-safe because it
    stamps the tags *before* the load; here an edit committed while the load
    runs may leave the old row cached until the partition's TTL.)"""
    started = time.perf_counter()
    cache = caches[CACHE_ALIAS]
    value = cache.get(key, _MISSING)
    hit = value is not _MISSING
    if not hit:
        value = compute()
        cache.set(key, value, timeout, tags=sorted(set(tags(value))))
    return Cached(value, hit, (time.perf_counter() - started) * 1000)


def row_tags(rows: Iterable[dict[str, Any]]) -> Iterable[str]:
    """The tags of the tracks and artists that rows of ``_track_rows`` show."""
    for row in rows:
        yield f"track:{row['track_id']}"
        yield f"artist:{row['artist_id']}"


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

    def tags(rows: list[dict[str, Any]]) -> Iterable[str]:
        return [f"plays:{listener_id}", *row_tags(rows)]

    result = _through_cache(keys.top_tracks(listener_id), compute, tags)
    return Cached(result.value[:limit], result.hit, result.elapsed_ms)


def recommendations(listener_id: int, limit: int = 10) -> Cached:
    """Tracks the listener has not played, ranked by how many of their
    co-listeners (people who played the same tracks) played them.

    Listeners with no history get the most popular tracks of their country.
    """

    def compute() -> list[dict[str, Any]]:
        return _co_listened(listener_id) or _popular_in_country(listener_id)

    def tags(rows: list[dict[str, Any]]) -> Iterable[str]:
        return [f"listener:{listener_id}", *row_tags(rows)]

    result = _through_cache(keys.recommendations(listener_id), compute, tags)
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

    result = _through_cache(keys.chart(country), compute, row_tags, CHART_TTL)
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

    def tags(rows: list[dict[str, Any]]) -> Iterable[str]:
        return [f"listener:{row['listener_id']}" for row in rows]

    result = _through_cache(keys.ACTIVE_LISTENERS, compute, tags, CHART_TTL)
    return Cached(result.value[:limit], result.hit, result.elapsed_ms)


def artist_stats(artist_id: int) -> Cached:
    """Catalogue and listening statistics of one artist.

    Its tags are known before the load, so it reads through ``get_or_set``,
    which is race-safe: stats computed while one of the artist's tracks is
    edited are not written back over the invalidation.  Raises
    ``Artist.DoesNotExist`` for an unknown id (nothing is cached then).
    """
    started = time.perf_counter()
    loads: list[int] = []

    def compute() -> dict[str, Any]:
        loads.append(artist_id)
        return _compute_artist_stats(artist_id)

    tags = [f"artist:{artist_id}", f"artist-tracks:{artist_id}"]
    value = caches[CACHE_ALIAS].get_or_set(keys.artist_stats(artist_id), compute, tags=tags)
    return Cached(value, not loads, (time.perf_counter() - started) * 1000)


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

    def tags(value: dict[str, Any]) -> Iterable[str]:
        return [f"playlist:{playlist_id}", *row_tags(value["tracks"])]

    return _through_cache(keys.playlist(playlist_id), compute, tags)


def forget_everything(reason: str = "") -> None:
    """Invalidate every value of the music app (its data was replaced wholesale):
    one delete per partition, or a key scan where the cache has no such partition."""
    cache = caches[CACHE_ALIAS]
    for name, prefix in keys.PREFIXES.items():
        if name in cache.partitions:
            cache.invalidate_partition(name, reason=reason)
        else:
            cache.invalidate(f"{prefix}*", reason=reason)
