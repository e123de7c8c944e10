"""The example project wired end to end, on the memory store and on Redis: its
services write into their domain's partition with the tags of what they show,
and saving a row (in the admin, as a person would) refreshes exactly the pages
that show it."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.forms.models import model_to_dict
from django.urls import reverse

from example_project.music import cache_bindings, keys, services
from example_project.music.models import Listener, ListeningEvent, Playlist, PlaylistEntry, Track

from .conftest import SMALL, play_counts
from .test_services import record_play

pytestmark = [pytest.mark.django_db, pytest.mark.urls("example_project.urls")]

HIT, MISS = "cache hit ·", "cache miss ·"  # the badge texts
OLD_TITLE, NEW_TITLE = "Original Star Title", "Edited In The Admin"


@pytest.fixture(params=["memory", "redis"])
def cache_location(request: pytest.FixtureRequest) -> str:
    """Overrides conftest's: every test here runs on both stores."""
    return "" if request.param == "memory" else request.getfixturevalue("redis_url")


@pytest.fixture
def star(busiest_listener_id: int) -> Track:
    """The busiest listener's favourite track, made the most played of all (so the
    global chart, its artist's page and the listener's page show it) and put in the
    first playlist, under a title no other track has.  Nothing is cached yet."""
    track_id = play_counts(busiest_listener_id).most_common(1)[0][0]
    played_at = ListeningEvent.objects.latest("played_at").played_at
    ListeningEvent.objects.bulk_create(
        ListeningEvent(
            listener_id=busiest_listener_id, track_id=track_id, played_at=played_at, ms_played=1
        )
        for _ in range(200)
    )
    Track.objects.filter(pk=track_id).update(title=OLD_TITLE)
    playlist = Playlist.objects.order_by("pk").first()
    if not playlist.entries.filter(track_id=track_id).exists():
        last = playlist.entries.order_by("-position").values_list("position", flat=True).first()
        PlaylistEntry.objects.create(playlist=playlist, track_id=track_id, position=(last or 0) + 1)
    return Track.objects.select_related("artist").get(pk=track_id)


def star_pages(star: Track, listener_id: int) -> dict[str, str]:
    playlist = Playlist.objects.order_by("pk").first()
    return {
        "listener": reverse("music:listener", args=[listener_id]),
        "artist": reverse("music:artist", args=[star.artist_id]),
        "home": reverse("music:home"),
        "playlist": reverse("music:playlist", args=[playlist.pk]),
    }


def page(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def warm(client: Any, urls: dict[str, str]) -> dict[str, str]:
    """Each page twice; the second views, every badge of which must say "hit"."""
    for url in urls.values():
        page(client, url)
    second = {name: page(client, url) for name, url in urls.items()}
    for name, html in second.items():
        assert HIT in html and MISS not in html, name
    return second


def admin_save(admin_client: Any, capture: Any, obj: Any, **changes: Any) -> None:
    """Post the object's admin change form with ``changes``, and run what the
    commit runs (the test's transaction never commits)."""
    url = reverse(f"admin:music_{obj._meta.model_name}_change", args=[obj.pk])
    data = {k: "" if v is None else v for k, v in {**model_to_dict(obj), **changes}.items()}
    with capture(execute=True):
        response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]  # saved, redirected


def test_each_service_writes_into_its_domains_partition(example_cache, busiest_listener_id):
    artist_id = Track.objects.values_list("artist_id", flat=True).first()
    playlist_id = Playlist.objects.values_list("pk", flat=True).first()
    services.top_tracks(busiest_listener_id)
    services.active_listeners()
    services.recommendations(busiest_listener_id)
    services.global_chart()
    services.artist_stats(artist_id)
    services.playlist_tracks(playlist_id)
    expected = {  # key: (partition, seconds to live)
        keys.top_tracks(busiest_listener_id): ("listeners", 3600),
        keys.ACTIVE_LISTENERS: ("listeners", services.CHART_TTL),
        keys.recommendations(busiest_listener_id): ("recommendations", 1800),
        keys.chart(None): ("tracks", services.CHART_TTL),
        keys.artist_stats(artist_id): ("tracks", 3600),
        keys.playlist(playlist_id): ("tracks", 3600),
    }
    for key, (partition, ttl) in expected.items():
        assert example_cache.partition_of(key) == partition, key
        assert ttl - 30 < example_cache.ttl(key) <= ttl, key


def test_editing_a_track_in_the_admin_refreshes_every_page_showing_it(
    client, admin_client, star, busiest_listener_id, django_capture_on_commit_callbacks
):
    urls = star_pages(star, busiest_listener_id)
    for name, html in warm(client, urls).items():
        assert OLD_TITLE in html, name

    admin_save(admin_client, django_capture_on_commit_callbacks, star, title=NEW_TITLE)

    after = {name: page(client, url) for name, url in urls.items()}
    for name, html in after.items():
        assert NEW_TITLE in html and OLD_TITLE not in html, name
    # Recomputed: what shows the track.  Still cached: the listener's
    # recommendations (never a track they played) and the most active listeners.
    assert after["listener"].count(MISS) == 1 and after["listener"].count(HIT) == 1
    assert after["home"].count(MISS) == 1 and after["home"].count(HIT) == 1
    assert MISS in after["artist"] and MISS in after["playlist"]
    for name, html in {name: page(client, url) for name, url in urls.items()}.items():
        assert MISS not in html and NEW_TITLE in html, name  # and cached again


def test_without_the_bindings_the_admin_edit_is_not_seen(
    client, admin_client, star, busiest_listener_id, django_capture_on_commit_callbacks
):
    """The control: the refresh above is the bindings' doing, not a TTL or a miss."""
    url = star_pages(star, busiest_listener_id)["listener"]
    warm(client, {"listener": url})
    cache_bindings.disconnect()
    admin_save(admin_client, django_capture_on_commit_callbacks, star, title=NEW_TITLE)
    html = page(client, url)
    assert OLD_TITLE in html and NEW_TITLE not in html and MISS not in html


def test_a_track_edit_leaves_lists_of_the_artists_other_tracks_cached(
    admin_client, star, django_capture_on_commit_callbacks
):
    sibling = Track.objects.create(title="Sibling", artist=star.artist, duration_ms=200_000)
    newcomer = Listener.objects.create(username="newcomer", country="SE")
    record_play(newcomer.pk, sibling.pk, ms_played=60_000)
    assert [row["track_id"] for row in services.top_tracks(newcomer.pk).value] == [sibling.pk]
    assert not services.artist_stats(star.artist_id).hit

    admin_save(admin_client, django_capture_on_commit_callbacks, star, title=NEW_TITLE)
    assert services.top_tracks(newcomer.pk).hit  # tagged track:<sibling>, artist:<artist>
    assert not services.artist_stats(star.artist_id).hit  # artist-tracks:<artist>

    admin_save(admin_client, django_capture_on_commit_callbacks, star.artist, name="Renamed Act")
    renamed = services.top_tracks(newcomer.pk)
    assert not renamed.hit and renamed.value[0]["artist"] == "Renamed Act"


def test_renaming_an_artist_in_the_admin_refreshes_the_pages_naming_it(
    client, admin_client, star, busiest_listener_id, django_capture_on_commit_callbacks
):
    urls = star_pages(star, busiest_listener_id)
    warm(client, urls)
    admin_save(admin_client, django_capture_on_commit_callbacks, star.artist, name="Renamed Act")
    for name, url in urls.items():
        assert "Renamed Act" in page(client, url), name


def test_renaming_a_listener_refreshes_the_most_active_listeners(
    client, admin_client, busiest_listener_id, django_capture_on_commit_callbacks
):
    home = reverse("music:home")
    warm(client, {"home": home})
    listener = Listener.objects.get(pk=busiest_listener_id)
    admin_save(admin_client, django_capture_on_commit_callbacks, listener, username="renamed_fan")
    html = page(client, home)
    assert "renamed_fan" in html
    assert html.count(MISS) == 1  # the listeners; the chart shows no listener


def test_a_play_refreshes_that_listeners_top_tracks_only(
    busiest_listener_id, django_capture_on_commit_callbacks
):
    other = Listener.objects.exclude(pk=busiest_listener_id).filter(events__isnull=False).first()
    top = services.top_tracks(busiest_listener_id)
    services.recommendations(busiest_listener_id)
    services.top_tracks(other.pk)
    with django_capture_on_commit_callbacks(execute=True):
        record_play(busiest_listener_id, top.value[0]["track_id"], ms_played=1_000)
    after = services.top_tracks(busiest_listener_id)
    assert not after.hit and after.value[0]["plays"] == top.value[0]["plays"] + 1
    assert services.recommendations(busiest_listener_id).hit  # half an hour behind, by design
    assert services.top_tracks(other.pk).hit


def test_removing_a_track_from_a_playlist_refreshes_it(star, django_capture_on_commit_callbacks):
    playlist = Playlist.objects.order_by("pk").first()
    assert star.pk in [
        row["track_id"] for row in services.playlist_tracks(playlist.pk).value["tracks"]
    ]
    with django_capture_on_commit_callbacks(execute=True):
        playlist.entries.get(track=star).delete()
    after = services.playlist_tracks(playlist.pk)
    assert not after.hit
    assert star.pk not in [row["track_id"] for row in after.value["tracks"]]


def test_seeding_again_forgets_everything(busiest_listener_id, django_capture_on_commit_callbacks):
    calls = [  # the chart first: recommendations for an unknown listener read it
        lambda: services.global_chart(),
        lambda: services.active_listeners(),
        lambda: services.top_tracks(busiest_listener_id),
        lambda: services.recommendations(busiest_listener_id),
    ]
    for call in calls:
        call()
    assert [call().hit for call in calls] == [True] * 4
    sizes = {name: getattr(SMALL, name) for name in SMALL.__dataclass_fields__}
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", force=True, seed=3, stdout=StringIO(), **sizes)
    # The same rows under new ids: nothing cached about the old ones is served.
    assert [call().hit for call in calls] == [False] * 4
