"""Ops/s of the memory store per strategy against LocMemCache and cachetools.

    python benchmarks/memory_ops.py [--seconds 0.3] [--rounds 5] [--write]

Two levels, measured in one run, configurations interleaved round by round:

* through the Django cache API: ``SpotifyCache`` on ``memory://`` with lru,
  lfu and adaptive (every value pickled *and* HMAC-authenticated) against
  Django's ``LocMemCache`` (pickled, not authenticated);
* the bare store (bytes in, bytes out) per strategy against cachetools'
  ``LRUCache`` guarded by a lock, the in-process LRU most projects reach for.

Workloads: ``get`` (a hit), ``set`` (an overwrite), and ``zipf`` (get, and set
on a miss, over 20,000 keys with room for 2,000: the eviction path).
"""

from __future__ import annotations

import itertools
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import arguments, publish

STRATEGIES = ("lru", "lfu", "adaptive")
WORKLOADS = ("get", "set", "zipf")
VALUE = {"track": 123, "title": "Hey Jude", "plays": 4521, "energy": 0.61}
CAPACITY, KEYSPACE = 2000, 20000


def zipf_keys(count: int = 100_000, alpha: float = 1.0, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    weights = [1 / (rank**alpha) for rank in range(1, KEYSPACE + 1)]
    return [f"k{i}" for i in rng.choices(range(KEYSPACE), weights, k=count)]


def configure() -> None:
    import django
    from django.conf import settings

    caches = {
        s: {
            "BACKEND": "spotify_cache.backend.SpotifyCache",
            "LOCATION": f"memory://{s}",
            "OPTIONS": {"MAX_ENTRIES": CAPACITY, "STRATEGY": s},
        }
        for s in STRATEGIES
    }
    caches["LocMemCache"] = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "bench",
        "OPTIONS": {"MAX_ENTRIES": CAPACITY},
    }
    settings.configure(SECRET_KEY="benchmark-secret", CACHES=caches)
    django.setup()


def api_workload(cache, workload: str) -> Callable[[], object]:
    cache.set("hot", VALUE)
    if workload == "get":
        return lambda: cache.get("hot")
    if workload == "set":
        return lambda: cache.set("hot", VALUE)
    keys = itertools.cycle(zipf_keys())

    def step() -> None:
        key = next(keys)
        if cache.get(key) is None:
            cache.set(key, VALUE)

    return step


class LockedLRU:
    """cachetools.LRUCache with the lock any multi-threaded server needs."""

    def __init__(self) -> None:
        from cachetools import LRUCache

        self.data: LRUCache = LRUCache(CAPACITY)
        self.lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self.lock:
            return self.data.get(key)

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        with self.lock:
            self.data[key] = value


def store_workload(store, workload: str) -> Callable[[], object]:
    blob = b"x" * 100
    store.set("hot", blob, None)
    if workload == "get":
        return lambda: store.get("hot")
    if workload == "set":
        return lambda: store.set("hot", blob, None)
    keys = itertools.cycle(zipf_keys())

    def step() -> None:
        key = next(keys)
        if store.get(key) is None:
            store.set(key, blob, None)

    return step


def ops_per_second(call: Callable[[], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            call()
        count += 100
    return count / (time.perf_counter() - start)


def run(
    factories: dict[str, Callable[[str], Callable[[], object]]], seconds: float, rounds: int
) -> dict[tuple[str, str], float]:
    samples: dict[tuple[str, str], list[float]] = {}
    for workload in WORKLOADS:
        calls = {name: make(workload) for name, make in factories.items()}
        for _ in range(rounds):
            for name, call in calls.items():
                samples.setdefault((workload, name), []).append(ops_per_second(call, seconds))
    return {k: statistics.median(v) for k, v in samples.items()}


def table(results: dict[tuple[str, str], float], names: list[str], peer: str) -> str:
    lines = [
        "| workload | "
        + " | ".join(names)
        + " | "
        + " | ".join(f"{n} / {peer}" for n in names if n != peer)
        + " |",
        "|" + "---|" * (2 * len(names)),
    ]
    for workload in WORKLOADS:
        rates = [results[(workload, n)] for n in names]
        ratios = [results[(workload, n)] / results[(workload, peer)] for n in names if n != peer]
        lines.append(
            f"| {workload} | "
            + " | ".join(f"{r:,.0f}" for r in rates)
            + " | "
            + " | ".join(f"{r:.2f}x" for r in ratios)
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    args = arguments(__doc__, seconds=0.3, rounds=5, redis=False)
    configure()
    from django.core.cache import caches

    from spotify_cache.stores.memory import MemoryStore

    api = {n: (lambda w, n=n: api_workload(caches[n], w)) for n in (*STRATEGIES, "LocMemCache")}
    bare: dict[str, Callable[[str], Callable[[], object]]] = {
        s: (
            lambda w, s=s: store_workload(
                MemoryStore("", {"MAX_ENTRIES": CAPACITY, "STRATEGY": s}), w
            )
        )
        for s in STRATEGIES
    }
    bare["cachetools LRUCache"] = lambda w: store_workload(LockedLRU(), w)
    body = (
        f"Through the Django cache API (MAX_ENTRIES={CAPACITY}):\n\n"
        + table(run(api, args.seconds, args.rounds), [*STRATEGIES, "LocMemCache"], "LocMemCache")
        + "\n\nBare store, bytes in and out:\n\n"
        + table(
            run(bare, args.seconds, args.rounds),
            [*STRATEGIES, "cachetools LRUCache"],
            "cachetools LRUCache",
        )
    )
    publish("Memory store ops/s", body, args.write)


if __name__ == "__main__":
    main()
