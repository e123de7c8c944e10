"""The hook registry: called after matching invalidations, after the commit, failures isolated."""

from __future__ import annotations

import logging

import pytest
from django.core.cache import caches
from django.db import transaction

from example_project.music.models import Track
from spotify_cache.invalidation import register_invalidation_hook, unregister_invalidation_hook
from spotify_cache.invalidation.hooks import Hook, Invalidation, hook_failures

from .conftest import cache_settings, cached


class Recorder:
    def __init__(self) -> None:
        self.events: list[Invalidation] = []

    def __call__(self, event: Invalidation) -> None:
        self.events.append(event)

    @property
    def targets(self) -> list[tuple[str, ...]]:
        return [e.targets for e in self.events]


@pytest.fixture
def partitioned(settings):
    settings.CACHES = {
        "default": cache_settings("memory://", PARTITIONS={"catalog": {"PREFIX": "catalog:"}}),
        "other": cache_settings("memory://"),
    }
    yield caches["default"]
    caches["default"].clear()
    caches["other"].clear()


def test_a_hook_gets_one_event_per_invalidation(cache):
    seen = Recorder()
    register_invalidation_hook(seen)
    cache.set("k", 1)
    assert cache.invalidate("k", reason="test") == 1
    cache.invalidate_tags("a", "b", reason="why")
    assert seen.events == [
        Invalidation(
            alias="default",
            kind="key",
            cause="key",
            targets=("k",),
            count=1,
            reason="test",
            partition="default",
        ),
        Invalidation(
            alias="default",
            kind="tag",
            cause="tag",
            targets=("a", "b"),
            count=None,
            reason="why",
            partition=None,
        ),
    ]


def test_pattern_filter_matches_keys_tags_and_partitions_by_name(partitioned):
    tracks, catalog = Recorder(), Recorder()
    register_invalidation_hook(tracks, pattern="track:*")
    register_invalidation_hook(catalog, pattern="cat*")
    partitioned.invalidate("track:1")
    partitioned.invalidate("artist:1")
    partitioned.invalidate_tags("track:2")
    partitioned.invalidate_tags("artist:2")
    partitioned.invalidate_partition("catalog")
    assert tracks.targets == [("track:1",), ("track:2",)]
    assert catalog.targets == [("catalog",)]


def test_partition_filter(partitioned):
    seen = Recorder()
    register_invalidation_hook(seen, partition="catalog")
    partitioned.invalidate("catalog:top")
    partitioned.invalidate("elsewhere")
    partitioned.invalidate_tags("catalog")  # a tag, not the partition
    partitioned.invalidate_partition("catalog")
    assert [(e.kind, e.targets, e.partition) for e in seen.events] == [
        ("key", ("catalog:top",), "catalog"),
        ("partition", ("catalog",), "catalog"),
    ]


def test_cache_filter(partitioned):
    seen = Recorder()
    register_invalidation_hook(seen, cache="other")
    partitioned.invalidate_tags("x")
    caches["other"].invalidate_tags("y")
    assert [(e.alias, e.targets) for e in seen.events] == [("other", ("y",))]


@pytest.mark.django_db(transaction=True)
def test_hooks_wait_for_the_commit_and_skip_a_rollback(memory_cache):
    seen = Recorder()
    register_invalidation_hook(seen)
    with transaction.atomic():
        memory_cache.invalidate_tags("committed")
        assert seen.events == []
    assert seen.targets == [("committed",)]
    with pytest.raises(RuntimeError), transaction.atomic():
        memory_cache.invalidate_tags("rolled-back")
        raise RuntimeError
    assert seen.targets == [("committed",)]


@pytest.mark.django_db(transaction=True)
def test_a_model_invalidation_reaches_hooks_with_its_cause(memory_cache, tracks, binder):
    binder(Track, tags=["track:{pk}"])
    seen = Recorder()
    register_invalidation_hook(seen, pattern="track:*")
    with transaction.atomic():
        tracks[0].save()
    [event] = seen.events
    assert (event.kind, event.cause, event.targets) == ("tag", "model", (f"track:{tracks[0].pk}",))
    assert event.reason == f"music.Track pk={tracks[0].pk} post_save"


def test_a_failing_hook_is_logged_counted_and_isolated(memory_cache, caplog):
    after = Recorder()

    def broken(event: Invalidation) -> None:
        raise ValueError("secret-value-123")

    hook = register_invalidation_hook(broken, name="broken-hook")
    register_invalidation_hook(after)
    cached(memory_cache, "k", "t")
    before = hook_failures["broken-hook"]
    with caplog.at_level(logging.DEBUG, logger="spotify_cache.invalidation"):
        memory_cache.invalidate_tags("t")  # does not raise
    assert memory_cache.get("k") is None
    assert hook_failures["broken-hook"] == before + 1
    assert after.targets == [("t",)]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].name == "spotify_cache.invalidation"
    assert "broken-hook" in errors[0].getMessage() and "ValueError" in errors[0].getMessage()
    assert "secret-value-123" not in errors[0].getMessage()
    assert errors[0].exc_info is None  # the traceback (with the message) only at DEBUG
    assert isinstance(hook, Hook)


def test_unregister_by_handle_or_by_callback_and_decorator_form(memory_cache):
    first, second = Recorder(), Recorder()
    handle = register_invalidation_hook(first)

    @register_invalidation_hook(pattern="x*")
    def decorated(event: Invalidation) -> None:
        second(event)

    assert isinstance(decorated, Hook)
    memory_cache.invalidate_tags("x1")
    assert unregister_invalidation_hook(handle) is True
    assert unregister_invalidation_hook(decorated.callback) is True
    assert unregister_invalidation_hook(handle) is False
    memory_cache.invalidate_tags("x2")
    assert first.targets == [("x1",)] and second.targets == [("x1",)]
