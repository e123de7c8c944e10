"""Race-safe read-through: a load that started before an invalidation is never
written back after it, whatever was invalidated (key, tag, partition), on both stores."""

from __future__ import annotations

import asyncio
import threading

import pytest

from spotify_cache.backend import SpotifyCache
from spotify_cache.invalidation import cached
from tests.partitions.conftest import PARTITIONS, Factory

KEY = "spotify:user:7:top"


class SlowLoader:
    """A loader that signals when it starts and waits to be released."""

    def __init__(self, value: object) -> None:
        self.value = value
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        self.started.set()
        assert self.release.wait(5)
        return self.value


INVALIDATIONS = {
    "key": lambda cache: cache.invalidate(KEY),
    "tag": lambda cache: cache.invalidate_tags("listener:7"),
    "partition": lambda cache: cache.invalidate_partition("listeners"),
}


@pytest.mark.parametrize("kind", sorted(INVALIDATIONS))
def test_a_load_racing_an_invalidation_is_not_written_back(make: Factory, kind: str) -> None:
    cache = make(PARTITIONS=PARTITIONS)
    loader = SlowLoader("computed from the old row")
    results: list[object] = []
    reader = threading.Thread(
        target=lambda: results.append(cache.get_or_set(KEY, loader, tags=["listener:7"]))
    )
    reader.start()
    assert loader.started.wait(5)
    INVALIDATIONS[kind](cache)  # the row changed while the loader was reading it
    loader.release.set()
    reader.join(5)
    assert results == ["computed from the old row"]  # the caller still gets its answer
    assert cache.get(KEY) is None  # ... but nobody else does
    assert _blob(cache) is None or kind == "key"  # not even written (key: the marker stays)
    fresh = SlowLoader("computed from the new row")
    fresh.release.set()
    assert cache.get_or_set(KEY, fresh, tags=["listener:7"]) == "computed from the new row"
    assert cache.get(KEY) == "computed from the new row"


def _blob(cache: SpotifyCache) -> bytes | None:
    return cache._router.route(KEY).store.get_for_update(cache.make_key(KEY))


def test_a_write_that_lands_during_the_load_is_not_overwritten(make: Factory) -> None:
    cache = make(PARTITIONS=PARTITIONS)
    loader = SlowLoader("stale")
    reader = threading.Thread(target=lambda: cache.get_or_set(KEY, loader))
    reader.start()
    assert loader.started.wait(5)
    cache.set(KEY, "written by the writer")
    loader.release.set()
    reader.join(5)
    assert cache.get(KEY) == "written by the writer"


def test_without_a_race_the_load_is_stored(make: Factory) -> None:
    cache = make(PARTITIONS=PARTITIONS)
    calls: list[int] = []
    assert cache.get_or_set(KEY, lambda: calls.append(1) or "v", tags=["listener:7"]) == "v"
    assert cache.get_or_set(KEY, lambda: calls.append(1) or "w") == "v"
    assert calls == [1]
    assert cache.get_or_set("stores-none", lambda: None) is None  # as Django does
    assert cache.get("stores-none", "default") is None


def test_async_load_racing_a_tag_invalidation(make: Factory) -> None:
    cache = make(PARTITIONS=PARTITIONS)

    async def scenario() -> None:
        started, release = asyncio.Event(), asyncio.Event()

        async def load() -> str:
            started.set()
            await release.wait()
            return "old"

        task = asyncio.create_task(cache.aget_or_set(KEY, load, tags=["listener:7"]))
        await started.wait()
        await cache.ainvalidate_tags("listener:7")
        release.set()
        assert await task == "old"
        assert await cache.aget(KEY) is None

    asyncio.run(scenario())


def test_cached_decorator(make: Factory, settings) -> None:
    cache = make(PARTITIONS=PARTITIONS)
    settings.CACHES = {**settings.CACHES, "rt": _params(cache)}
    calls: list[int] = []

    @cached(cache="rt", key="spotify:user:{user_id}:top", tags=["listener:{user_id}"])
    def top_tracks(user_id: int, limit: int = 10) -> list[int]:
        calls.append(user_id)
        return list(range(limit))

    assert top_tracks(1) == list(range(10))
    assert top_tracks(user_id=1) == list(range(10))
    assert calls == [1]
    from django.core.cache import caches

    caches["rt"].invalidate_tags("listener:1")
    assert top_tracks(1) == list(range(10)) and calls == [1, 1]
    assert top_tracks.invalidate(1) == 1
    assert top_tracks(1) and calls == [1, 1, 1]


def test_cached_methods_async_and_partition_checks(make: Factory, settings) -> None:
    cache = make(PARTITIONS=PARTITIONS)
    settings.CACHES = {**settings.CACHES, "rt": _params(cache)}

    class Listener:
        pk = 5

        @cached(cache="rt", key="spotify:user:{self.pk}:recs", partition="listeners")
        async def recommendations(self) -> list[str]:
            return ["a", "b"]

        @cached(cache="rt", key="elsewhere:{self.pk}", partition="listeners")
        def misplaced(self) -> int:
            return 1

    listener = Listener()
    assert asyncio.run(listener.recommendations()) == ["a", "b"]
    from django.core.cache import caches

    assert caches["rt"].get("spotify:user:5:recs") == ["a", "b"]
    with pytest.raises(ValueError, match="falls into partition 'default', not 'listeners'"):
        listener.misplaced()


def _params(cache: SpotifyCache) -> dict:
    store = cache.store
    location = getattr(store, "urls", None) or [store.location]
    return {
        "BACKEND": "spotify_cache.backend.SpotifyCache",
        "LOCATION": location[0],
        "KEY_PREFIX": cache.key_prefix,
        "OPTIONS": {"PARTITIONS": PARTITIONS},
    }
