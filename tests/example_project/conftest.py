"""Fixtures for the example project: its cache (partitions) and model bindings, a
small seeded catalogue, and an empty cache per test.

Tests run on the memory store; a module that defines its own ``cache_location``
fixture (``test_wiring.py``: memory and Redis) runs on those instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches

from example_project.cache_config import default_cache
from example_project.music import cache_bindings
from example_project.music.demo_data import SeedSizes, seed
from example_project.music.models import ListeningEvent

SMALL = SeedSizes(listeners=30, artists=12, tracks=120, events=2000, playlists=10)


@pytest.fixture
def cache_location() -> str:
    """Where the cache lives: "" for the memory store, else a Redis URL."""
    return ""


@pytest.fixture(autouse=True)
def example_cache(settings, cache_location: str) -> Iterator[Any]:
    """``caches["default"]`` as the example project configures it, with the music
    models bound as its settings bind them (the suite's settings do neither)."""
    settings.CACHES = {"default": default_cache(cache_location, key_prefix="example-tests")}
    cache_bindings.connect()
    # The cache outlives test transactions (and, on Redis, the process), while
    # rolled-back ids are reused: start and end every test with nothing cached.
    caches["default"].clear()
    yield caches["default"]
    caches["default"].clear()
    cache_bindings.disconnect()


@pytest.fixture
def demo(db) -> dict[str, int]:
    return seed(SMALL, seed=3)


@pytest.fixture
def busiest_listener_id(demo) -> int:
    counts = Counter(ListeningEvent.objects.values_list("listener_id", flat=True))
    return counts.most_common(1)[0][0]


def play_counts(listener_id: int) -> Counter[int]:
    """The listener's plays per track id, counted in Python rather than SQL."""
    return Counter(
        ListeningEvent.objects.filter(listener_id=listener_id).values_list("track_id", flat=True)
    )
