"""Replay a Zipf-distributed listening workload through the cached services.

A few listeners and artists get most of the traffic, as on a real site.  Reads
are a mix of the four services; a share of requests are new listening events,
whose model binding (``cache_bindings.py``) invalidates the listener's top tracks.  Hits and
misses are counted from what the services report, not from backend internals.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.utils import timezone

from . import services
from .demo_data import zipf_weights
from .models import Artist, Listener, ListeningEvent, Track

# (operation, share of requests); "listen" is the write.
MIX = (
    ("top_tracks", 0.40),
    ("recommendations", 0.20),
    ("artist_stats", 0.20),
    ("chart", 0.10),
    ("listen", 0.10),
)


class NoDemoData(Exception):
    """Raised when there is nothing to replay against (run ``seed_demo`` first)."""


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; 0.0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


@dataclass
class ReplayReport:
    requests: int = 0
    writes: int = 0
    hit_ms: list[float] = field(default_factory=list)
    miss_ms: list[float] = field(default_factory=list)
    by_operation: Counter[tuple[str, bool]] = field(default_factory=Counter)

    @property
    def hits(self) -> int:
        return len(self.hit_ms)

    @property
    def misses(self) -> int:
        return len(self.miss_ms)

    @property
    def hit_ratio(self) -> float:
        reads = self.hits + self.misses
        return self.hits / reads if reads else 0.0

    def record(self, operation: str, result: services.Cached) -> None:
        (self.hit_ms if result.hit else self.miss_ms).append(result.elapsed_ms)
        self.by_operation[operation, result.hit] += 1

    def render(self) -> str:
        lines = [
            f"requests   {self.requests}  ({self.hits + self.misses} reads, "
            f"{self.writes} listening events)",
            f"hits       {self.hits}",
            f"misses     {self.misses}",
            f"hit ratio  {self.hit_ratio:.1%}",
            "latency ms           count      p50      p95      p99",
        ]
        for label, samples in (("cached (hit)", self.hit_ms), ("uncached (miss)", self.miss_ms)):
            p50, p95, p99 = (percentile(samples, pct) for pct in (50, 95, 99))
            lines.append(f"  {label:<17}{len(samples):>7}{p50:>9.2f}{p95:>9.2f}{p99:>9.2f}")
        for operation, _ in MIX[:-1]:
            hits, misses = self.by_operation[operation, True], self.by_operation[operation, False]
            lines.append(f"  {operation:<17}{hits:>7} hits {misses:>6} misses")
        return "\n".join(lines)


class _Zipf:
    """Draws from ``items`` with Zipf weights over a seeded shuffle of them."""

    def __init__(self, rng: random.Random, items: Sequence[object], exponent: float) -> None:
        self.rng, self.items = rng, list(items)
        rng.shuffle(self.items)
        self.weights = zipf_weights(len(self.items), exponent)

    def __call__(self) -> object:
        return self.rng.choices(self.items, cum_weights=self.weights)[0]


def replay(requests: int = 2000, seed: int = 7, zipf: float = 1.1) -> ReplayReport:
    """Run ``requests`` operations against the cached services and report hits and latency."""
    listener_ids = list(Listener.objects.order_by("pk").values_list("pk", flat=True))
    artist_ids = list(Artist.objects.order_by("pk").values_list("pk", flat=True))
    track_ids = list(Track.objects.order_by("pk").values_list("pk", flat=True))
    if not (listener_ids and artist_ids and track_ids):
        raise NoDemoData("no listeners, artists or tracks to replay against; run seed_demo")
    rng = random.Random(seed)
    listener, artist, track = (
        _Zipf(rng, ids, zipf) for ids in (listener_ids, artist_ids, track_ids)
    )
    countries = sorted(set(Listener.objects.values_list("country", flat=True)))
    country = _Zipf(rng, [None, *countries], zipf)
    reads: dict[str, Callable[[], services.Cached]] = {
        "top_tracks": lambda: services.top_tracks(listener()),
        "recommendations": lambda: services.recommendations(listener()),
        "artist_stats": lambda: services.artist_stats(artist()),
        "chart": lambda: services.global_chart(country()),
    }
    operations, shares = zip(*MIX, strict=True)
    report = ReplayReport(requests=requests)
    for operation in rng.choices(operations, weights=shares, k=requests):
        if operation == "listen":
            _listen(rng, listener(), track())
            report.writes += 1
        else:
            report.record(operation, reads[operation]())
    return report


def _listen(rng: random.Random, listener_id: object, track_id: object) -> None:
    ListeningEvent.objects.create(
        listener_id=listener_id,
        track_id=track_id,
        played_at=timezone.now(),
        ms_played=rng.randint(30_000, 240_000),
    )
