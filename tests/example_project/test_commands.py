from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from example_project.music.models import (
    Artist,
    Listener,
    ListeningEvent,
    Playlist,
    PlaylistEntry,
    Track,
)

from .conftest import SMALL

SIZES = {
    "listeners": SMALL.listeners,
    "artists": SMALL.artists,
    "tracks": SMALL.tracks,
    "events": SMALL.events,
    "playlists": SMALL.playlists,
}


def run(*args, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def snapshot() -> dict[str, list]:
    """The seeded data without database ids, which differ between runs."""
    return {
        "artists": list(Artist.objects.order_by("pk").values_list("name", "genres")),
        "tracks": list(
            Track.objects.order_by("pk").values_list(
                "title", "artist__name", "duration_ms", "popularity", "energy", "tempo"
            )
        ),
        "listeners": list(Listener.objects.order_by("pk").values_list("username", "country")),
        "events": list(
            ListeningEvent.objects.order_by("pk").values_list(
                "listener__username",
                "track__title",
                "track__artist__name",
                "played_at",
                "ms_played",
            )
        ),
        "playlists": list(
            PlaylistEntry.objects.order_by("pk").values_list(
                "playlist__name", "playlist__owner__username", "position", "track__title"
            )
        ),
    }


@pytest.mark.django_db
def test_seed_demo_creates_the_requested_counts_deterministically():
    out = run("seed_demo", seed=11, **SIZES)
    assert "Seeded" in out
    assert Artist.objects.count() == SMALL.artists
    assert Track.objects.count() == SMALL.tracks
    assert Listener.objects.count() == SMALL.listeners
    assert ListeningEvent.objects.count() == SMALL.events
    assert Playlist.objects.count() == SMALL.playlists
    first = snapshot()

    run("seed_demo", seed=11, force=True, **SIZES)
    assert snapshot() == first

    run("seed_demo", seed=12, force=True, **SIZES)
    assert snapshot()["events"] != first["events"]
    assert ListeningEvent.objects.count() == SMALL.events


@pytest.mark.django_db
def test_seed_demo_leaves_existing_data_alone_without_force():
    run("seed_demo", seed=1, **SIZES)
    before = snapshot()
    out = run("seed_demo", seed=2, listeners=5, artists=2, tracks=10, events=50)
    assert "already present" in out
    assert snapshot() == before


@pytest.mark.django_db
def test_seeded_names_are_unique_and_plausible():
    run("seed_demo", seed=5, **SIZES)
    names = list(Artist.objects.values_list("name", flat=True))
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Z][\w &]+", name) for name in names)


def _number(report: str, label: str) -> int:
    return int(re.search(rf"^{label}\s+(\d+)", report, re.MULTILINE).group(1))


@pytest.mark.django_db
def test_replay_workload_reports_hits_on_a_zipf_workload(demo):
    events_before = ListeningEvent.objects.count()
    report = run("replay_workload", requests=600, seed=1, zipf=1.2)
    requests, hits, misses = (_number(report, label) for label in ("requests", "hits", "misses"))
    writes = int(re.search(r"(\d+) listening events", report).group(1))
    assert requests == 600
    assert hits > 0
    assert misses > 0
    assert hits + misses + writes == 600
    assert ListeningEvent.objects.count() == events_before + writes
    assert re.search(r"hit ratio\s+\d+\.\d%", report)
    assert re.search(r"cached \(hit\)\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+", report)
    assert re.search(r"uncached \(miss\)\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+", report)


@pytest.mark.django_db
def test_replay_workload_without_data_is_an_error():
    with pytest.raises(CommandError, match="seed_demo"):
        run("replay_workload", requests=10)


@pytest.mark.django_db(transaction=True)
def test_demo_runs_end_to_end_without_serving(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "correct horse battery staple")
    out = run("demo", no_serve=True)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password("correct horse battery staple")
    assert "correct horse" not in out
    assert Listener.objects.exists() and ListeningEvent.objects.exists()
    assert _number(out, "hits") > 0
    assert "AES-GCM ciphertext" in out and "is not readable in it" in out  # no keys set

    again = run("demo", no_serve=True)
    assert "Created superuser" not in again
    assert "already present" in again
    assert get_user_model().objects.filter(is_superuser=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_demo_prints_a_generated_password_once(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    call_command("seed_demo", stdout=StringIO(), **SIZES)
    out = run("demo", no_serve=True)
    password = re.search(r"Created superuser admin, password: (\S+)", out).group(1)
    assert get_user_model().objects.get(username="admin").check_password(password)


@pytest.mark.django_db
def test_seed_demo_rejects_negative_sizes_before_touching_data(demo):
    before = ListeningEvent.objects.count()
    with pytest.raises(CommandError, match="negative"):
        run("seed_demo", events=-1, force=True)
    assert ListeningEvent.objects.count() == before
