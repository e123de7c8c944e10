from __future__ import annotations

import pytest

from example_project.music import services
from example_project.music.models import (
    Artist,
    Listener,
    ListeningEvent,
    Playlist,
    PlaylistEntry,
    Track,
)

from .conftest import play_counts

pytestmark = pytest.mark.django_db


def _calls(listener_id: int) -> dict[str, object]:
    artist_id = Artist.objects.order_by("pk").values_list("pk", flat=True).first()
    country = Listener.objects.get(pk=listener_id).country
    playlist_id = Playlist.objects.order_by("pk").values_list("pk", flat=True).first()
    return {
        "top_tracks": lambda: services.top_tracks(listener_id),
        "recommendations": lambda: services.recommendations(listener_id),
        "artist_stats": lambda: services.artist_stats(artist_id),
        "global_chart": lambda: services.global_chart(),
        "country_chart": lambda: services.global_chart(country),
        "playlist_tracks": lambda: services.playlist_tracks(playlist_id),
        "active_listeners": lambda: services.active_listeners(),
    }


@pytest.mark.parametrize(
    "name",
    [
        "top_tracks",
        "recommendations",
        "artist_stats",
        "global_chart",
        "country_chart",
        "playlist_tracks",
        "active_listeners",
    ],
)
def test_second_call_is_a_hit_without_queries(name, busiest_listener_id, django_assert_num_queries):
    call = _calls(busiest_listener_id)[name]
    first = call()
    assert not first.hit
    assert first.value
    with django_assert_num_queries(0):
        second = call()
    assert second.hit
    assert second.value == first.value


def test_top_tracks_are_the_most_played(busiest_listener_id):
    counts = play_counts(busiest_listener_id)
    result = services.top_tracks(busiest_listener_id, limit=5)
    assert len(result.value) == 5
    plays = [row["plays"] for row in result.value]
    assert plays == sorted(plays, reverse=True)
    assert plays[0] == max(counts.values())
    for row in result.value:
        assert counts[row["track_id"]] == row["plays"]
        track = Track.objects.select_related("artist").get(pk=row["track_id"])
        assert (row["title"], row["artist"]) == (track.title, track.artist.name)


def test_top_tracks_limit_slices_one_cached_entry(busiest_listener_id, django_assert_num_queries):
    ten = services.top_tracks(busiest_listener_id, limit=10)
    with django_assert_num_queries(0):
        three = services.top_tracks(busiest_listener_id, limit=3)
    assert three.value == ten.value[:3]


def test_recommendations_are_unplayed_tracks_of_co_listeners(busiest_listener_id):
    mine = set(play_counts(busiest_listener_id))
    result = services.recommendations(busiest_listener_id)
    assert result.value
    for row in result.value:
        assert row["track_id"] not in mine
        assert row["reason"] == "co-listened"
        co_listeners = ListeningEvent.objects.filter(track_id=row["track_id"]).exclude(
            listener_id=busiest_listener_id
        )
        assert co_listeners.filter(listener__events__track_id__in=mine).exists()


def test_listener_without_history_gets_popular_tracks_of_their_country(demo):
    country = Listener.objects.values_list("country", flat=True).first()
    newcomer = Listener.objects.create(username="newcomer", country=country)
    result = services.recommendations(newcomer.pk, limit=3)
    chart = services.global_chart(country, limit=3).value
    assert len(chart) == 3
    assert [row["track_id"] for row in result.value] == [row["track_id"] for row in chart]
    assert {row["reason"] for row in result.value} == {"popular"}


def test_country_chart_counts_only_that_country(demo):
    country = Listener.objects.values_list("country", flat=True).first()
    top = services.global_chart(country, limit=1).value[0]
    plays = ListeningEvent.objects.filter(track_id=top["track_id"], listener__country=country)
    assert top["plays"] == plays.count()
    assert services.global_chart(None).value != services.global_chart(country).value


def test_artist_stats_aggregate_the_artists_plays(demo):
    artist = Artist.objects.order_by("pk").first()
    stats = services.artist_stats(artist.pk).value
    events = ListeningEvent.objects.filter(track__artist=artist)
    assert stats["name"] == artist.name
    assert stats["tracks"] == artist.tracks.count()
    assert stats["plays"] == events.count()
    assert stats["listeners"] == len(set(events.values_list("listener_id", flat=True)))
    assert stats["ms_played"] == sum(events.values_list("ms_played", flat=True))


def record_play(listener_id: int, track_id: int, *, ms_played: int) -> ListeningEvent:
    """A new listening event, as late as the latest one."""
    return ListeningEvent.objects.create(
        listener_id=listener_id,
        track_id=track_id,
        played_at=ListeningEvent.objects.latest("played_at").played_at,
        ms_played=ms_played,
    )


def test_unknown_artist_raises_and_caches_nothing(demo):
    with pytest.raises(Artist.DoesNotExist):
        services.artist_stats(10**9)
    with pytest.raises(Artist.DoesNotExist):
        services.artist_stats(10**9)


def test_saving_a_listening_event_invalidates_top_tracks_after_commit(
    busiest_listener_id, django_capture_on_commit_callbacks
):
    before = services.top_tracks(busiest_listener_id)
    favourite = before.value[0]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        record_play(busiest_listener_id, favourite["track_id"], ms_played=60_000)
        # Not committed yet: readers still get the old, committed history.
        assert services.top_tracks(busiest_listener_id).hit
    assert len(callbacks) == 1
    after = services.top_tracks(busiest_listener_id)
    assert not after.hit
    assert after.value[0]["track_id"] == favourite["track_id"]
    assert after.value[0]["plays"] == favourite["plays"] + 1


def test_rolled_back_event_invalidates_nothing(
    busiest_listener_id, django_capture_on_commit_callbacks
):
    services.top_tracks(busiest_listener_id)
    with django_capture_on_commit_callbacks(execute=False):
        record_play(busiest_listener_id, Track.objects.first().pk, ms_played=1_000)
    assert services.top_tracks(busiest_listener_id).hit


def test_other_listeners_stay_cached(busiest_listener_id, django_capture_on_commit_callbacks):
    other = Listener.objects.exclude(pk=busiest_listener_id).filter(events__isnull=False).first()
    services.top_tracks(other.pk)
    with django_capture_on_commit_callbacks(execute=True):
        record_play(busiest_listener_id, Track.objects.first().pk, ms_played=1_000)
    assert services.top_tracks(other.pk).hit


def test_editing_a_playlist_invalidates_it(demo, django_capture_on_commit_callbacks):
    playlist = Playlist.objects.order_by("pk").first()
    before = services.playlist_tracks(playlist.pk).value["tracks"]
    added = Track.objects.exclude(playlists=playlist).first()
    with django_capture_on_commit_callbacks(execute=True):
        PlaylistEntry.objects.create(playlist=playlist, track=added, position=len(before) + 1)
    after = services.playlist_tracks(playlist.pk)
    assert not after.hit
    assert [row["track_id"] for row in after.value["tracks"]] == [
        *(row["track_id"] for row in before),
        added.pk,
    ]
