"""``invalidate_model``: the explicit path for writes that send no signals."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from example_project.music.models import Artist, Track
from spotify_cache.invalidation import invalidate_model
from spotify_cache.invalidation.bindings import model_plan

from .conftest import alive, cached

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pages(cache, artists, tracks, binder):
    """Track bound to track:{pk}, artist:{artist_id} and the model tag "tracks";
    one cached page per track, per artist, and one for all tracks."""
    binder(Track, tags=["track:{pk}", "artist:{artist_id}"], model_tags=["tracks"])
    found = {"all": "all"}
    for artist in artists:
        found[f"artist{artists.index(artist)}"] = f"artist-page:{artist.pk}"
        cached(cache, f"artist-page:{artist.pk}", f"artist:{artist.pk}")
    for n, track in enumerate(tracks):
        found[f"track{n}"] = f"track-page:{track.pk}"
        cached(cache, f"track-page:{track.pk}", f"track:{track.pk}")
    cached(cache, "all", "tracks")
    return found


def survivors(cache, pages) -> set[str]:
    return {name for name, key in pages.items() if alive(cache, key)}


def test_update_with_the_queryset_read_before_it(cache, artists, tracks, pages):
    rows = Track.objects.filter(artist=artists[0])
    with transaction.atomic():
        invalidate_model(Track, queryset=rows)  # the rows as they are before the update
        rows.update(popularity=99)
        assert survivors(cache, pages) == set(pages)  # not before the commit
    assert survivors(cache, pages) == {"track2", "artist1", "artist2"}


def test_update_that_moves_rows_invalidates_before_and_after(cache, artists, tracks, pages):
    with transaction.atomic():
        pks = list(Track.objects.filter(artist=artists[0]).values_list("pk", flat=True))
        invalidate_model(Track, pks)  # old artist
        Track.objects.filter(pk__in=pks).update(artist=artists[2])
        invalidate_model(Track, pks)  # new artist
    assert survivors(cache, pages) == {"track2", "artist1"}


def test_bulk_update(cache, tracks, pages):
    tracks[2].popularity = 5
    Track.objects.bulk_update([tracks[2]], ["popularity"])
    invalidate_model(Track, instances=[tracks[2]])
    assert survivors(cache, pages) == {"track0", "track1", "artist0", "artist2"}


def test_bulk_create(cache, artists, pages):
    made = Track.objects.bulk_create(
        [Track(title="new", artist=artists[2], duration_ms=1) for _ in range(2)]
    )
    invalidate_model(Track, instances=made)
    assert survivors(cache, pages) == set(pages) - {"artist2", "all"}


def test_raw_sql_update_then_pks(cache, tracks, pages):
    with connection.cursor() as cursor:
        table = Track._meta.db_table
        cursor.execute(f"UPDATE {table} SET popularity = 7 WHERE id = %s", [tracks[0].pk])
    invalidate_model(Track, pks=[tracks[0].pk])
    assert survivors(cache, pages) == set(pages) - {"track0", "artist0", "all"}


def test_raw_sql_delete_then_pks_still_invalidates_what_the_pk_names(
    memory_cache, artists, tracks, binder
):
    binder(Track, tags=["track:{pk}"])
    binder(Track, tags=["artist:{artist_id}"], model_tags=["tracks"])
    cached(memory_cache, "track-page", f"track:{tracks[0].pk}")
    cached(memory_cache, "artist-page", f"artist:{artists[0].pk}")
    cached(memory_cache, "all", "tracks")
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Track._meta.db_table} WHERE id = %s", [tracks[0].pk])
    invalidate_model(Track, pks=[tracks[0].pk])
    # The row is gone: its artist is unknown, its pk and the model tag are not.
    assert alive(memory_cache, "track-page", "artist-page", "all") == ["artist-page"]


def test_whole_model_with_model_tags_is_one_tag(cache, pages):
    plan = invalidate_model(Track)
    assert {alias: sorted(t.tags) for alias, t in plan.items()} == {"default": ["tracks"]}
    assert survivors(cache, pages) == set(pages) - {"all"}


def test_whole_model_without_model_tags_walks_every_row(memory_cache, tracks, binder):
    binder(Track, tags=["track:{pk}"])
    for track in tracks:
        cached(memory_cache, f"page:{track.pk}", f"track:{track.pk}")
    invalidate_model("music.Track")
    assert alive(memory_cache, *(f"page:{t.pk}" for t in tracks)) == []


def test_a_rolled_back_transaction_invalidates_nothing(cache, artists, tracks, pages):
    with pytest.raises(RuntimeError), transaction.atomic():
        invalidate_model(Track, queryset=Track.objects.all())
        invalidate_model(Track, pks=[tracks[0].pk])
        invalidate_model(Track)
        raise RuntimeError
    assert survivors(cache, pages) == set(pages)


def test_model_plan_schedules_nothing(memory_cache, tracks, binder):
    binder(Track, tags=["track:{pk}"])
    cached(memory_cache, "page", f"track:{tracks[0].pk}")
    plan = model_plan(Track, [tracks[0].pk])
    assert plan["default"].tags == {f"track:{tracks[0].pk}"}
    assert alive(memory_cache, "page") == ["page"]


def test_mistakes(memory_cache, tracks, binder):
    with pytest.raises(LookupError, match=r"music\.Artist has no cache binding"):
        invalidate_model(Artist)
    binder(Track, tags=["track:{pk}"])
    with pytest.raises(ValueError, match="at most one"):
        invalidate_model(Track, [1], instances=tracks)
