"""Model bindings on the music app: saves, deletes and m2m changes invalidate after commit."""

from __future__ import annotations

import contextlib
import logging
import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from example_project.music.models import Artist, Playlist, Track
from spotify_cache.invalidation import bind, bindings, plans
from spotify_cache.signals import invalidated
from tests.helpers import Collector

from .conftest import alive, cached

pytestmark = pytest.mark.django_db(transaction=True)

TRACK_TAGS = ["track:{pk}", "artist:{artist_id}"]


@pytest.fixture
def track_binding(binder):
    return binder(Track, tags=TRACK_TAGS, model_tags=["tracks"])


def tag_everything(cache, artists, tracks) -> None:
    for artist in artists:
        cached(cache, f"artist-page:{artist.pk}", f"artist:{artist.pk}")
    for track in tracks:
        cached(cache, f"track-page:{track.pk}", f"track:{track.pk}")
    cached(cache, "all-tracks", "tracks")


def test_creating_a_track_invalidates_its_artist_and_the_model_tag(
    cache, artists, tracks, track_binding
):
    tag_everything(cache, artists, tracks)
    Track.objects.create(title="New", artist=artists[1], duration_ms=1)
    gone = {f"artist-page:{artists[1].pk}", "all-tracks"}
    kept = {f"artist-page:{artists[0].pk}", *(f"track-page:{t.pk}" for t in tracks)}
    assert set(alive(cache, *gone, *kept)) == kept


def test_updating_a_track_invalidates_its_tags_only(cache, artists, tracks, track_binding):
    tag_everything(cache, artists, tracks)
    tracks[2].title = "Renamed"
    tracks[2].save()
    gone = {f"track-page:{tracks[2].pk}", f"artist-page:{artists[1].pk}", "all-tracks"}
    kept = {f"track-page:{tracks[0].pk}", f"artist-page:{artists[0].pk}"}
    assert set(alive(cache, *gone, *kept)) == kept


def test_moving_a_track_invalidates_the_old_and_the_new_artist(
    cache, artists, tracks, track_binding
):
    tag_everything(cache, artists, tracks)
    track = tracks[2]  # by artists[1]
    track.artist = artists[2]
    track.save()
    gone = {f"artist-page:{artists[1].pk}", f"artist-page:{artists[2].pk}"}
    kept = {f"artist-page:{artists[0].pk}"}
    assert set(alive(cache, *gone, *kept)) == kept


def test_old_values_come_from_the_database_not_from_a_stale_instance(
    memory_cache, artists, tracks, track_binding
):
    # The row moved to artists[1] behind this instance's back (no signal): the
    # old artist to invalidate is the database's, not the one the instance saw.
    stale = Track.objects.get(pk=tracks[0].pk)
    Track.objects.filter(pk=stale.pk).update(artist=artists[1])
    tag_everything(memory_cache, artists, tracks)
    stale.artist = artists[2]
    stale.save()
    pages = [f"artist-page:{a.pk}" for a in artists]
    assert alive(memory_cache, *pages) == [pages[0]]


def test_an_instance_built_with_an_existing_pk_invalidates_the_rows_old_values(
    memory_cache, artists, tracks, track_binding
):
    tag_everything(memory_cache, artists, tracks)
    Track(pk=tracks[2].pk, title="Overwrite", artist=artists[2], duration_ms=5).save()
    pages = [f"artist-page:{a.pk}" for a in artists]
    assert alive(memory_cache, *pages) == [pages[0]]


def selects_during_save(track: Track, **save_options) -> int:
    with CaptureQueriesContext(connection) as queries:
        track.save(**save_options)
    return sum(q["sql"].lstrip().upper().startswith("SELECT") for q in queries.captured_queries)


def test_the_old_row_is_read_only_when_a_target_reads_a_changeable_field(
    memory_cache, tracks, binder
):
    binder(Track, tags=["track:{pk}"])
    assert selects_during_save(tracks[0]) == 0
    binder(Track, tags=["artist:{artist_id}"])
    assert selects_during_save(tracks[0]) == 1
    # update_fields that miss every watched field: the old row cannot differ there.
    assert selects_during_save(tracks[0], update_fields=["title"]) == 0
    assert selects_during_save(tracks[0], update_fields=["artist"]) == 1
    # A binding reading the title is not asked about the old row when only the
    # artist is written (its old targets would cost a deferred-field query).
    binder(Track, keys=["search:{title}"])
    assert selects_during_save(tracks[0], update_fields=["artist"]) == 1
    assert selects_during_save(tracks[0]) == 1  # one query for both bindings


def test_a_callable_with_declared_fields_sees_old_and_new_values(
    memory_cache, artists, tracks, binder
):
    binder(Track, tags=lambda t: [f"artist:{t.artist_id}"], fields=["artist"])
    tag_everything(memory_cache, artists, tracks)
    tracks[2].artist = artists[2]
    assert selects_during_save(tracks[2], update_fields=["popularity"]) == 0
    assert selects_during_save(tracks[2]) == 1
    pages = [f"artist-page:{a.pk}" for a in artists]
    assert alive(memory_cache, *pages) == [pages[0]]


def test_deleting_a_track_invalidates_its_tags(cache, artists, tracks, track_binding):
    tag_everything(cache, artists, tracks)
    pk = tracks[2].pk
    tracks[2].delete()
    gone = {f"track-page:{pk}", f"artist-page:{artists[1].pk}", "all-tracks"}
    kept = {f"track-page:{tracks[0].pk}", f"artist-page:{artists[0].pk}"}
    assert set(alive(cache, *gone, *kept)) == kept


def test_queryset_delete_and_cascades_send_post_delete_for_bound_models(
    memory_cache, artists, tracks, track_binding
):
    tag_everything(memory_cache, artists, tracks)
    Track.objects.filter(pk=tracks[0].pk).delete()
    assert alive(memory_cache, f"track-page:{tracks[0].pk}", f"track-page:{tracks[1].pk}") == [
        f"track-page:{tracks[1].pk}"
    ]
    artists[1].delete()  # cascades to tracks[2]
    assert alive(memory_cache, f"track-page:{tracks[2].pk}") == []


def test_keys_and_glob_keys(memory_cache, tracks, binder):
    binder(Track, keys=["track:{pk}", "track:{pk}:*", "search:{title}"])
    one, other = tracks[0], tracks[1]
    one.title = "why*"
    for key in ("track:{0}", "track:{0}:a", "track:{0}:b", "search:why*", "search:whyX"):
        for track in (one, other):
            memory_cache.set(key.format(track.pk), 1)
    one.save()
    assert alive(memory_cache, f"track:{one.pk}", f"track:{one.pk}:a", f"track:{one.pk}:b") == []
    assert alive(memory_cache, "search:why*") == []
    # "why*" named one key: the value's star did not widen it into a glob.
    assert alive(memory_cache, "search:whyX", f"track:{other.pk}", f"track:{other.pk}:a") == [
        "search:whyX",
        f"track:{other.pk}",
        f"track:{other.pk}:a",
    ]


def test_partitions(settings, tracks, binder):
    from django.core.cache import caches

    from .conftest import cache_settings

    settings.CACHES = {
        "default": cache_settings("memory://", PARTITIONS={"catalog": {"PREFIX": "catalog:"}})
    }
    cache = caches["default"]
    binder(Track, partitions=["catalog"])
    cache.set("catalog:top", 1)
    cache.set("elsewhere", 1)
    tracks[0].save()
    assert alive(cache, "catalog:top", "elsewhere") == ["elsewhere"]


def test_playlist_add_remove_and_clear_invalidate_both_sides(cache, tracks, playlist, binder):
    binder(Track, tags=["track:{pk}"])
    binder(Playlist, tags=["playlist:{pk}"])
    pages = [f"track-page:{t.pk}" for t in tracks]

    def cache_all() -> None:
        cached(cache, "playlist-page", f"playlist:{playlist.pk}")
        for track, page in zip(tracks, pages, strict=True):
            cached(cache, page, f"track:{track.pk}")

    cache_all()
    playlist.tracks.add(tracks[0], through_defaults={"position": 1})
    assert alive(cache, "playlist-page", *pages) == pages[1:]

    cache_all()
    tracks[1].playlists.add(playlist, through_defaults={"position": 2})  # the reverse side
    assert alive(cache, "playlist-page", *pages) == [pages[0], pages[2]]

    cache_all()
    playlist.tracks.remove(tracks[0])
    assert alive(cache, "playlist-page", *pages) == pages[1:]

    cache_all()
    playlist.tracks.clear()  # tracks[1] was the only one left
    assert alive(cache, "playlist-page", *pages) == [pages[0], pages[2]]


@pytest.mark.parametrize("how", ["exception", "set_rollback"])
def test_a_rolled_back_transaction_invalidates_nothing(
    cache, artists, tracks, playlist, track_binding, binder, how
):
    binder(Playlist, tags=["playlist:{pk}"])
    tag_everything(cache, artists, tracks)
    cached(cache, "playlist-page", f"playlist:{playlist.pk}")
    everything = [f"artist-page:{a.pk}" for a in artists] + ["all-tracks", "playlist-page"]
    expected = pytest.raises(RuntimeError) if how == "exception" else contextlib.nullcontext()
    with expected, transaction.atomic():
        tracks[0].artist = artists[2]
        tracks[0].save()
        tracks[2].delete()
        Track.objects.create(title="New", artist=artists[1], duration_ms=1)
        playlist.tracks.add(tracks[1], through_defaults={"position": 1})
        if how == "exception":
            raise RuntimeError("roll back")
        transaction.set_rollback(True)
    assert alive(cache, *everything) == everything


def test_invalidation_waits_for_the_commit(cache, artists, tracks, track_binding):
    tag_everything(cache, artists, tracks)
    page = f"track-page:{tracks[0].pk}"
    with transaction.atomic():
        tracks[0].save()
        assert alive(cache, page) == [page]
    assert alive(cache, page) == []


def test_a_rolled_back_savepoint_drops_only_its_own_invalidations(
    memory_cache, artists, tracks, track_binding
):
    tag_everything(memory_cache, artists, tracks)
    pages = [f"track-page:{t.pk}" for t in tracks]
    with transaction.atomic():
        tracks[0].save()
        try:
            with transaction.atomic():
                tracks[1].save()
                raise RuntimeError
        except RuntimeError:
            pass
    assert alive(memory_cache, *pages) == pages[1:]


def test_the_signal_names_the_model_cause_and_reason(memory_cache, tracks, track_binding):
    with Collector(invalidated) as seen:
        tracks[0].save()
    tag_calls = [c for c in seen.calls if c["kind"] == "tag"]
    assert len(tag_calls) == 1
    call = tag_calls[0]
    assert call["cause"] == "model"
    assert call["reason"] == f"music.Track pk={tracks[0].pk} post_save"
    assert set(call["targets"]) == {
        f"track:{tracks[0].pk}",
        f"artist:{tracks[0].artist_id}",
        "tracks",
    }


def test_class_decorator_form(memory_cache, tracks):
    decorate = bind(tags=["track:{pk}"])
    try:
        assert decorate(Track) is Track
        cached(memory_cache, "page", f"track:{tracks[0].pk}")
        tracks[0].save()
        assert alive(memory_cache, "page") == []
    finally:
        bindings.unbind(Track)
    cached(memory_cache, "page", f"track:{tracks[0].pk}")
    tracks[0].save()
    assert alive(memory_cache, "page") == ["page"]


def test_bindings_from_settings(settings, memory_cache, tracks):
    settings.SPOTIFY_CACHE_BINDINGS = {"music.Track": {"tags": ["track:{pk}"]}}
    try:
        assert [b.model for b in bindings.load_settings()] == [Track]
        cached(memory_cache, "page", f"track:{tracks[0].pk}")
        tracks[0].save()
        assert alive(memory_cache, "page") == []
    finally:
        settings.SPOTIFY_CACHE_BINDINGS = {}
        bindings.load_settings()
    assert bindings.bindings_for(Track) == []


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"music.Track": {"tagz": ["x"]}}, "unknown option 'tagz'"),
        ({"music.Nope": {"tags": ["x"]}}, "music.Nope"),
        ({"music.Track": {"tags": "track:{pk}"}}, "not the string"),
        ({"music.Track": {"tags": ["track:{}"]}}, "name an attribute"),
        (["music.Track"], "must be a dict"),
    ],
)
def test_bad_settings_raise_improperly_configured(settings, declared, message):
    settings.SPOTIFY_CACHE_BINDINGS = declared
    try:
        with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
            bindings.load_settings()
    finally:
        settings.SPOTIFY_CACHE_BINDINGS = {}
        bindings.load_settings()
    assert bindings.bindings_for(Track) == []


def test_a_failing_cache_is_logged_and_counted_and_the_others_still_invalidated(
    memory_cache, tracks, binder, caplog
):
    binder(Track, tags=["track:{pk}"], cache="no-such-cache")
    binder(Track, tags=["track:{pk}"])
    cached(memory_cache, "page", f"track:{tracks[0].pk}")
    before = plans.failures["no-such-cache"]
    with caplog.at_level(logging.ERROR, logger="spotify_cache.invalidation"):
        tracks[0].save()  # does not raise
    assert plans.failures["no-such-cache"] == before + 1
    assert "no-such-cache" in caplog.text and "InvalidCacheBackendError" in caplog.text
    assert alive(memory_cache, "page") == []


def test_unbound_models_are_left_alone(memory_cache, artists, tracks, track_binding):
    cached(memory_cache, "page", f"artist:{artists[0].pk}")
    artists[0].name = "Renamed"
    artists[0].save()
    assert alive(memory_cache, "page") == ["page"]
    assert bindings.bindings_for(Artist) == []


def test_values_filled_into_a_glob_template_are_escaped(cache, tracks, binder):
    binder(Track, keys=["search:{title}:*"])
    tracks[0].title = "a*"
    Track.objects.filter(pk=tracks[0].pk).update(title="a*")  # no old title to widen it
    for key in ("search:a*:1", "search:a*:2", "search:ab:1"):
        cache.set(key, 1)
    tracks[0].save(update_fields=["popularity"])
    assert alive(cache, "search:a*:1", "search:a*:2", "search:ab:1") == ["search:ab:1"]
