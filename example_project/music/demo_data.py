"""Deterministic demo data: plausible artists, tracks, listeners, playlists and plays.

Everything is drawn from one ``random.Random(seed)``, so a seed always gives the
same catalogue and history (timestamps count back from ``now``).  Listeners have
favourite genres, which gives the co-listening recommendations something to find,
and both listeners and tracks are Zipf-distributed, as real listening is.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from . import services
from .models import Artist, Listener, ListeningEvent, Playlist, PlaylistEntry, Track
from .words import ADJECTIVES, FIRST_NAMES, GENRES, LAST_NAMES, NOUNS

COUNTRIES = ("US", "GB", "DE", "FR", "SE", "BR", "JP", "MX", "ES", "NG", "KR", "CA")
HISTORY_DAYS = 30
FAVOURITE_SHARE = 0.8  # share of a listener's plays drawn from their favourite genres


@dataclass(frozen=True)
class SeedSizes:
    listeners: int = 300
    artists: int = 120
    tracks: int = 1500
    events: int = 30000
    playlists: int = 150


def zipf_weights(n: int, exponent: float) -> list[float]:
    """Cumulative Zipf weights for ranks 1..n, for ``random.choices(cum_weights=)``."""
    return list(itertools.accumulate(1 / rank**exponent for rank in range(1, n + 1)))


def has_demo_data() -> bool:
    return Artist.objects.exists() or Listener.objects.exists()


@transaction.atomic
def clear_demo_data() -> None:
    """Delete every row of the music app (the whole app is demo data), then,
    after the commit, everything the cache holds about it.

    One ``DELETE`` per table: ``QuerySet.delete()`` would load every row of a
    bound model to send its ``post_delete``, one invalidation per play (ten
    times slower here); one delete per partition forgets it all at once."""
    with connection.cursor() as cursor:
        for model in (ListeningEvent, PlaylistEntry, Playlist, Track, Artist, Listener):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")
    transaction.on_commit(lambda: services.forget_everything(reason="clear_demo_data"))


@transaction.atomic
def seed(sizes: SeedSizes, seed: int = 42, now: datetime | None = None) -> dict[str, int]:
    """Create ``sizes`` worth of demo rows; returns the count per model."""
    rng = random.Random(seed)
    now = now or timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    artists = Artist.objects.bulk_create(_artists(rng, sizes.artists))
    tracks = Track.objects.bulk_create(_tracks(rng, artists, sizes.tracks))
    listeners = Listener.objects.bulk_create(_listeners(rng, sizes.listeners))
    tastes = [rng.sample(GENRES, k=rng.choice((1, 2))) for _ in listeners]
    events = _events(rng, listeners, tastes, tracks, sizes.events, now)
    ListeningEvent.objects.bulk_create(events, batch_size=5000)
    playlists, entries = _playlists(rng, listeners, tastes, tracks, sizes.playlists)
    # bulk_create sends no signals, and ids may be reused after --force (or the
    # cache may outlive the database): the whole catalogue is new, so forget
    # everything cached about the music app, one delete per partition.
    transaction.on_commit(lambda: services.forget_everything(reason="seed_demo"))
    return {
        "artists": len(artists),
        "tracks": len(tracks),
        "listeners": len(listeners),
        "events": len(events),
        "playlists": len(playlists),
        "playlist_entries": len(entries),
    }


def _unique(rng: random.Random, make: Callable[[random.Random], str], count: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        name = make(rng)
        if name in seen:
            name = f"{name} {len(names) + 1}"
        seen.add(name)
        names.append(name)
    return names


def _artist_name(rng: random.Random) -> str:
    adjective, noun = rng.choice(ADJECTIVES).title(), rng.choice(NOUNS).title()
    return rng.choice(
        (
            f"The {adjective} {noun}s",
            f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            f"{adjective} {noun}",
            f"{noun} & the {rng.choice(NOUNS).title()}s",
        )
    )


def _artists(rng: random.Random, count: int) -> list[Artist]:
    return [
        Artist(name=name, genres=",".join(rng.sample(GENRES, k=rng.choice((1, 1, 2, 3)))))
        for name in _unique(rng, _artist_name, count)
    ]


def _track_title(rng: random.Random) -> str:
    adjective, noun = rng.choice(ADJECTIVES).title(), rng.choice(NOUNS).title()
    return rng.choice((f"{adjective} {noun}", f"{noun}", f"{adjective} {noun} (Live)"))


def _tracks(rng: random.Random, artists: Sequence[Artist], count: int) -> list[Track]:
    # Popular artists release more: artists are picked with Zipf weights.
    picks = rng.choices(artists, cum_weights=zipf_weights(len(artists), 0.8), k=count)
    tracks = []
    for rank, artist in enumerate(picks):
        base = 100 * (1 - rank / max(count, 1)) ** 2
        tracks.append(
            Track(
                title=_track_title(rng),
                artist=artist,
                duration_ms=rng.randint(95_000, 330_000),
                popularity=max(0, min(100, round(base + rng.gauss(0, 8)))),
                energy=round(rng.betavariate(2, 2), 3),
                danceability=round(rng.betavariate(2.5, 2), 3),
                valence=round(rng.random(), 3),
                tempo=round(min(200.0, max(60.0, rng.gauss(120, 25))), 1),
            )
        )
    return tracks


def _listeners(rng: random.Random, count: int) -> list[Listener]:
    return [
        Listener(
            username=f"{rng.choice(ADJECTIVES)}_{rng.choice(NOUNS)}_{index}",
            country=rng.choice(COUNTRIES),
        )
        for index in range(1, count + 1)
    ]


def _pools(tracks: Sequence[Track]) -> dict[str, tuple[list[Track], list[float]]]:
    """Tracks per genre (most popular first) with their Zipf weights, plus ``"*"``."""
    by_genre: dict[str, list[Track]] = {"*": list(tracks)}
    for track in tracks:
        for genre in track.artist.genre_list:
            by_genre.setdefault(genre, []).append(track)
    return {
        genre: (ranked, zipf_weights(len(ranked), 1.0))
        for genre, pool in by_genre.items()
        for ranked in [sorted(pool, key=lambda t: (-t.popularity, t.pk))]
    }


def _events(
    rng: random.Random,
    listeners: Sequence[Listener],
    tastes: Sequence[list[str]],
    tracks: Sequence[Track],
    count: int,
    now: datetime,
) -> list[ListeningEvent]:
    if not listeners or not tracks:
        return []
    pools = _pools(tracks)
    who = rng.choices(range(len(listeners)), cum_weights=zipf_weights(len(listeners), 0.9), k=count)
    events = []
    for index in who:
        genres = [g for g in tastes[index] if g in pools]
        genre = rng.choice(genres) if genres and rng.random() < FAVOURITE_SHARE else "*"
        pool, weights = pools[genre]
        track = rng.choices(pool, cum_weights=weights)[0]
        full = rng.random() < 0.7
        events.append(
            ListeningEvent(
                listener=listeners[index],
                track=track,
                played_at=now - timedelta(seconds=rng.randint(0, HISTORY_DAYS * 86400)),
                ms_played=track.duration_ms if full else rng.randint(5_000, track.duration_ms),
            )
        )
    return events


def _playlists(
    rng: random.Random,
    listeners: Sequence[Listener],
    tastes: Sequence[list[str]],
    tracks: Sequence[Track],
    count: int,
) -> tuple[list[Playlist], list[PlaylistEntry]]:
    if not listeners or not tracks:
        return [], []
    pools = _pools(tracks)
    owners = [rng.randrange(len(listeners)) for _ in range(count)]
    playlists = Playlist.objects.bulk_create(
        Playlist(
            name=f"{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS)}s",
            owner=listeners[index],
        )
        for index in owners
    )
    entries = []
    for playlist, index in zip(playlists, owners, strict=True):
        pool, _ = pools[next((g for g in tastes[index] if g in pools), "*")]
        chosen = rng.sample(pool, k=min(len(pool), rng.randint(5, 20)))
        entries += [
            PlaylistEntry(playlist=playlist, track=track, position=position)
            for position, track in enumerate(chosen, start=1)
        ]
    PlaylistEntry.objects.bulk_create(entries, batch_size=5000)
    return playlists, entries
