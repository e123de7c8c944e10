"""The worker side of benchmarks/load.py: histograms, the workload, the drivers.

Imported by the worker processes (spawned), so it imports Django and the
package only inside functions, after ``build`` has configured settings.
"""

from __future__ import annotations

import bisect
import math
import os
import random
import threading
import time
import traceback
from collections import Counter
from itertools import accumulate
from typing import Any

MIX = (
    ("get", 0.80),
    ("set", 0.15),
    ("get_or_set", 0.04),
    ("invalidate_tags", 0.005),
    ("invalidate", 0.005),
)
OPS = tuple(op for op, _ in MIX)
PARTITIONS = {
    "listeners": {"PREFIX": "spotify:user:", "TIMEOUT": 3600},
    "catalog": {"PREFIX": "spotify:track:", "TIMEOUT": 3600},
}
LISTENER_TAGS, ARTIST_TAGS = 5000, 500
PER_DECADE, DECADES, FLOOR = 40, 8, 1e-6  # buckets from 1 us to 100 s
BUCKETS = PER_DECADE * DECADES


# -- latency histograms ---------------------------------------------------------------
def bucket(seconds: float) -> int:
    if seconds <= FLOOR:
        return 0
    return min(BUCKETS - 1, int(math.log10(seconds / FLOOR) * PER_DECADE))


def quantile(counts: list[int], q: float) -> float:
    """Seconds: the upper edge of the bucket holding the ``q`` quantile."""
    rank, seen = q * sum(counts), 0
    for index, count in enumerate(counts):
        seen += count
        if count and seen >= rank:
            return FLOOR * 10 ** ((index + 1) / PER_DECADE)
    return math.nan


def merged(histograms: list[list[int]]) -> list[int]:
    return [sum(column) for column in zip(*histograms, strict=True)] or [0] * BUCKETS


def per_second(timelines: list[list[list[int]]]) -> list[list[int]]:
    """Timelines (a histogram per second) merged second by second."""
    return [merged(list(second)) for second in zip(*timelines, strict=True)]


# -- the workload ---------------------------------------------------------------------
class Workload:
    """Keys by Zipf rank (ranks shuffled over the key space), their values and tags."""

    def __init__(self, keys: int, zipf: float) -> None:
        self.keys = [key_name(i) for i in range(keys)]
        random.Random(42).shuffle(self.keys)  # rank -> key: hot keys in both partitions
        self.cumulative = list(accumulate(1 / (rank**zipf) for rank in range(1, keys + 1)))
        self.user_rows = [{"track": t, "plays": 100 - t, "score": t / 7} for t in range(20)]
        self.track_rows = [{"artist": a, "energy": a / 3} for a in range(4)]

    def key(self, rng: random.Random) -> str:
        return rng.choices(self.keys, cum_weights=self.cumulative)[0]

    def value(self, key: str, serial: int) -> dict[str, Any]:
        rows = self.user_rows if key.startswith("spotify:user:") else self.track_rows
        return {"key": key, "serial": serial, "rows": rows}


def key_name(index: int) -> str:
    return f"spotify:user:{index}" if index % 2 == 0 else f"spotify:track:{index}"


def tags_of(key: str) -> list[str]:
    index = int(key.rsplit(":", 1)[1])
    return [f"listener:{index % LISTENER_TAGS}", f"artist:{index % ARTIST_TAGS}"]


def a_tag(rng: random.Random) -> str:
    """Mostly a listener's tag (10 values), sometimes an artist's (100 values)."""
    if rng.random() < 0.9:
        return f"listener:{rng.randrange(LISTENER_TAGS)}"
    return f"artist:{rng.randrange(ARTIST_TAGS)}"


# -- one thread of one worker --------------------------------------------------------
class Driver:
    """Calls the cache from ``start`` for ``seconds``; keeps its own histograms (one per
    op, and one per second of all ops), allocated up front, so no locks and no growth."""

    def __init__(self, cache: Any, work: Workload, seed: int, seconds: float) -> None:
        self.cache, self.work, self.rng, self.seconds = cache, work, random.Random(seed), seconds
        self.histograms = {op: [0] * BUCKETS for op in OPS}
        self.timeline = [[0] * BUCKETS for _ in range(math.ceil(seconds))]
        self.errors: Counter[str] = Counter()
        self.examples: list[str] = []
        self.hits = self.misses = self.serial = 0
        self.thresholds = list(accumulate(share for _, share in MIX))

    def run(self, start: float) -> None:
        rng, clock, end = self.rng, time.monotonic, start + self.seconds
        time.sleep(max(0.0, start - clock()))
        while (began := clock()) < end:
            op = OPS[min(len(OPS) - 1, bisect.bisect(self.thresholds, rng.random()))]
            try:
                getattr(self, op)(self.work.key(rng))
            except Exception as exc:
                self._error(op, exc)
                continue
            took = clock() - began
            self.histograms[op][bucket(took)] += 1
            self.timeline[int(began - start)][bucket(took)] += 1

    def get(self, key: str) -> None:
        value = self.cache.get(key)
        if value is None:
            self.misses += 1
        elif value["key"] != key:
            raise AssertionError(f"get({key!r}) returned the value of {value['key']!r}")
        else:
            self.hits += 1

    def set(self, key: str) -> None:
        self.serial += 1
        self.cache.set(key, self.work.value(key, self.serial), tags=tags_of(key))

    def get_or_set(self, key: str) -> None:
        value = self.cache.get_or_set(key, lambda: self.work.value(key, -1), tags=tags_of(key))
        if value["key"] != key:
            raise AssertionError(f"get_or_set({key!r}) returned the value of {value['key']!r}")

    def invalidate_tags(self, key: str) -> None:
        self.cache.invalidate_tags(a_tag(self.rng))

    def invalidate(self, key: str) -> None:
        self.cache.invalidate(key)

    def _error(self, op: str, exc: Exception) -> None:
        self.errors[f"{op}: {type(exc).__name__}"] += 1
        if len(self.examples) < 5:
            self.examples.append(f"{op}: {exc!r}")


# -- one worker process ----------------------------------------------------------------
def build(target: dict[str, Any]) -> Any:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(SECRET_KEY="benchmark-secret")
        django.setup()
    from spotify_cache.backend import SpotifyCache

    options: dict[str, Any] = {"PARTITIONS": PARTITIONS, "FAIL_OPEN": target["fail_open"]}
    if target["cluster"]:
        options["CLUSTER"] = True
    return SpotifyCache(target["url"], {"KEY_PREFIX": "load", "OPTIONS": options})


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def worker(target: dict[str, Any], index: int, sync: tuple[Any, Any, Any], results: Any) -> None:
    """One process: ``threads`` drivers, RSS sampled each second; results on ``results``.

    ``sync`` is (a queue to say ready on, an event to start on, the shared start time)."""
    try:
        results.put(_work(target, index, *sync))
    except BaseException:
        results.put({"index": index, "crash": traceback.format_exc()})
    finally:
        stop_trackers()


def _work(target: dict[str, Any], index: int, ready: Any, go: Any, start_at: Any) -> dict[str, Any]:
    from spotify_cache.signals import circuit_changed, value_rejected

    cache, work = build(target), Workload(target["keys"], target["zipf"])
    signals: Counter[str] = Counter()
    lock = threading.Lock()  # receivers run on the driver threads

    def rejected(**kw: Any) -> None:
        with lock:
            signals[f"value_rejected: {kw['reason']}"] += 1

    def breaker(**kw: Any) -> None:
        if kw["new"] == "open":
            with lock:
                signals[f"breaker opened: {kw['reason']}"] += 1

    value_rejected.connect(rejected, weak=False)
    circuit_changed.connect(breaker, weak=False)
    cache.get(work.keys[0])  # connect (and start tracking) before the clock
    seconds = target["seconds"]
    drivers = [Driver(cache, work, 1000 * index + n, seconds) for n in range(target["threads"])]
    ready.put(index)
    go.wait()
    start = start_at.value
    threads = [threading.Thread(target=d.run, args=(start,)) for d in drivers]
    for thread in threads:
        thread.start()
    memory = _sample_rss(start, start + seconds)
    for thread in threads:
        thread.join()
    return _worker_result(index, drivers, memory, signals)


def _sample_rss(start: float, end: float) -> list[tuple[float, int]]:
    """``(seconds since start, RSS)`` each second until ``end``, from this thread."""
    samples = [(0.0, rss())]
    for second in range(1, math.ceil(end - start) + 1):
        time.sleep(max(0.0, start + second - time.monotonic()))
        samples.append((time.monotonic() - start, rss()))
    return samples


def _worker_result(
    index: int, drivers: list[Driver], memory: list[tuple[float, int]], signals: Counter[str]
) -> dict[str, Any]:
    errors = sum((d.errors for d in drivers), Counter()) + signals
    return {
        "index": index,
        "histograms": {op: merged([d.histograms[op] for d in drivers]) for op in OPS},
        "timeline": per_second([d.timeline for d in drivers]),
        "errors": dict(errors),
        "examples": [e for d in drivers for e in d.examples][:5],
        "hits": sum(d.hits for d in drivers),
        "misses": sum(d.misses for d in drivers),
        "rss": memory,
    }


def stop_trackers() -> None:
    """Stop this process's tracking threads (cluster ones first), before its servers go."""
    from spotify_cache.stores import cluster_tracking, tracking

    cluster_tracking.stop_cluster_trackers()
    tracking.stop_trackers()
