"""Fixtures for the example project: a small seeded catalogue and an empty cache per test."""

from __future__ import annotations

from collections import Counter

import pytest
from django.core.cache import caches

from example_project.music.demo_data import SeedSizes, seed
from example_project.music.models import ListeningEvent

SMALL = SeedSizes(listeners=30, artists=12, tracks=120, events=2000, playlists=10)


@pytest.fixture(autouse=True)
def empty_cache():
    # The cache outlives test transactions (and, on Redis, the process), while
    # rolled-back ids are reused: start and end every test with nothing cached.
    caches["default"].clear()
    yield
    caches["default"].clear()


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
