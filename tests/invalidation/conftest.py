"""Fixtures for invalidation: the "default" cache on each store, bindings and hooks
undone after each test, a small catalogue of the music app's models."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import caches

from example_project.music.models import Artist, Listener, Playlist, Track
from spotify_cache.invalidation import bindings, hooks

_prefixes = itertools.count()


def cache_settings(location: str, **options: Any) -> dict[str, Any]:
    """A CACHES entry with a key prefix of its own (stores are shared by LOCATION)."""
    return {
        "BACKEND": "spotify_cache.backend.SpotifyCache",
        "LOCATION": location,
        "KEY_PREFIX": f"inv{next(_prefixes)}",
        "OPTIONS": options,
    }


@pytest.fixture(params=["memory", "redis"])
def location(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return request.getfixturevalue("redis_url")


@pytest.fixture
def cache(settings, location: str) -> Iterator[Any]:
    """``caches["default"]``, on the memory store and on Redis."""
    settings.CACHES = {"default": cache_settings(location)}
    yield caches["default"]
    caches["default"].clear()


@pytest.fixture
def memory_cache(settings) -> Iterator[Any]:
    """``caches["default"]`` on the memory store only."""
    settings.CACHES = {"default": cache_settings("memory://")}
    yield caches["default"]
    caches["default"].clear()


@pytest.fixture
def binder() -> Iterator[Callable[..., bindings.Binding]]:
    """``bind`` whose bindings are removed after the test."""
    made: list[bindings.Binding] = []

    def bind(model: Any, **options: Any) -> bindings.Binding:
        made.append(bindings.bind(model, **options))
        return made[-1]

    yield bind
    for binding in made:
        bindings.unbind(binding)


@pytest.fixture(autouse=True)
def _no_leftover_hooks() -> Iterator[None]:
    yield
    for hook in hooks.registered():
        hooks.unregister_invalidation_hook(hook)


@pytest.fixture
def artists(db) -> list[Artist]:
    return [Artist.objects.create(name=f"Artist {n}") for n in range(3)]


@pytest.fixture
def tracks(artists: list[Artist]) -> list[Track]:
    """Two tracks by the first artist, one by the second."""
    by = [artists[0], artists[0], artists[1]]
    return [
        Track.objects.create(title=f"track-{n}", artist=a, duration_ms=1000)
        for n, a in enumerate(by)
    ]


@pytest.fixture
def playlist(db) -> Playlist:
    owner = Listener.objects.create(username="owner", country="SE")
    return Playlist.objects.create(name="Mix", owner=owner)


def cached(cache: Any, key: str, *tags: str) -> None:
    """Cache a value under ``key`` with ``tags``."""
    cache.set(key, f"value of {key}", tags=list(tags))


def alive(cache: Any, *keys: str) -> list[str]:
    """Those of ``keys`` still cached."""
    return [key for key in keys if cache.get(key) is not None]
