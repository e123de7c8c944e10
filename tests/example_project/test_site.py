from __future__ import annotations

import re

import pytest
from django.db.models import Count
from django.urls import reverse
from django.utils.html import escape

from example_project.music.models import (
    Artist,
    Listener,
    ListeningEvent,
    Playlist,
    PlaylistEntry,
    Track,
)

from .conftest import play_counts

pytestmark = [pytest.mark.django_db, pytest.mark.urls("example_project.urls")]

HIT, MISS = "cache hit ·", "cache miss ·"  # the badge texts, not its CSS classes


def test_listener_page_shows_their_real_top_track(client, busiest_listener_id):
    track_id, plays = play_counts(busiest_listener_id).most_common(1)[0]
    track = Track.objects.get(pk=track_id)
    url = reverse("music:listener", args=[busiest_listener_id])

    first = client.get(url)
    assert first.status_code == 200
    html = first.content.decode()
    assert escape(Listener.objects.get(pk=busiest_listener_id).username) in html
    assert escape(track.title) in html
    assert f'<td class="num">{plays}</td>' in html
    assert html.count(MISS) == 2  # top tracks and recommendations
    assert "Recommended for you" in html

    second = client.get(url).content.decode()
    assert second.count(HIT) == 2


def test_home_shows_the_global_chart(client, demo):
    top = ListeningEvent.objects.values_list("track_id", flat=True)
    counts: dict[int, int] = {}
    for track_id in top:
        counts[track_id] = counts.get(track_id, 0) + 1
    best = max(sorted(counts), key=counts.__getitem__)
    response = client.get(reverse("music:home"))
    assert response.status_code == 200
    assert escape(Track.objects.get(pk=best).title) in response.content.decode()
    assert MISS in response.content.decode()
    assert HIT in client.get(reverse("music:home")).content.decode()


def test_country_chart_page(client, demo):
    country = Listener.objects.values_list("country", flat=True).first()
    response = client.get(reverse("music:home"), {"country": country.lower()})
    assert response.status_code == 200
    assert f"Top tracks in {country}" in response.content.decode()


def test_artist_page_shows_stats(client, demo):
    artist = Artist.objects.order_by("pk").first()
    response = client.get(reverse("music:artist", args=[artist.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert escape(artist.name) in html
    plays = ListeningEvent.objects.filter(track__artist=artist).count()
    assert f"{plays} by" in html


def test_unknown_pages_are_404(client, demo):
    for name in ("artist", "listener", "playlist"):
        assert client.get(reverse(f"music:{name}", args=[10**9])).status_code == 404


def test_playlist_page_lists_tracks_in_order(client, demo):
    playlist = Playlist.objects.order_by("pk").first()
    response = client.get(reverse("music:playlist", args=[playlist.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    expected = [
        (str(position), escape(title))
        for position, title in PlaylistEntry.objects.filter(playlist=playlist)
        .order_by("position")
        .values_list("position", "track__title")
    ]
    rows = re.findall(r'<td class="num">(\d+)</td>\s*<td>([^<]*)</td>', html)
    assert rows == expected
    assert len(rows) >= 5


@pytest.mark.parametrize(
    "model", [Artist, Track, Listener, Playlist, PlaylistEntry, ListeningEvent]
)
def test_admin_changelists_render(admin_client, demo, model):
    url = reverse(f"admin:music_{model._meta.model_name}_changelist")
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(url, {"q": "a"}).status_code == 200


def test_home_links_the_most_active_listener(client, demo):
    busiest = Listener.objects.annotate(plays=Count("events")).order_by("-plays", "pk").first()
    html = client.get(reverse("music:home")).content.decode()
    assert reverse("music:listener", args=[busiest.pk]) in html
    assert f"{busiest.plays} plays" in html
