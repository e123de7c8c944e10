"""Cost of partitions and tags on the read path, and of O(1) invalidation.

    python benchmarks/invalidation.py [--redis-url URL] [--seconds 0.3] [--rounds 5] [--write]

1. get (a hit) and set ops/s of a key in a partition, written with two tags,
   against the same key with no partitions and no tags, on the memory store,
   on Redis and on Redis with a near-cache (where a hit never leaves the
   process, so the stamp check is all that differs).  Configurations are
   interleaved round by round, in a new random order each round; the median
   round is reported, ratios are against the plain cache of the same store.
2. invalidating 100,000 values: ``invalidate_tags`` and ``invalidate_partition``
   (Redis commands sent, counted by the server, and seconds) against
   ``delete_pattern`` (SCAN + UNLINK, what django-redis offers) over the same
   100,000 keys.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import arguments, publish, redis_url

VALUE = {"listener": 123, "top": [{"track": i, "plays": 40 - i} for i in range(10)]}
KEY = "spotify:user:123:top"
TAGS = ["listener:123", "genre:rock"]
PARTITIONS = {
    "listeners": {"PREFIX": "spotify:user:", "TIMEOUT": 3600},
    "catalog": {"PREFIX": "spotify:track:"},
}
MEMBERS = 100_000


def configure() -> None:
    import django
    from django.conf import settings

    settings.configure(SECRET_KEY="benchmark", USE_TZ=True)
    django.setup()


def make(location: str, prefix: str, **options) -> object:
    from spotify_cache.backend import SpotifyCache

    return SpotifyCache(location, {"KEY_PREFIX": prefix, "TIMEOUT": 3600, "OPTIONS": options})


def pairs(url: str) -> dict[str, tuple[object, object]]:
    """Per store: (plain cache, partitioned cache whose value has two tags)."""
    near = {"NEAR_CACHE": {"MAX_ENTRIES": 1000}}
    return {
        "memory": (make("memory://a", "a"), make("memory://b", "b", PARTITIONS=PARTITIONS)),
        "redis": (make(url, "c"), make(url, "d", PARTITIONS=PARTITIONS)),
        "redis + near-cache": (
            make(url, "e", **near),
            make(url, "f", PARTITIONS=PARTITIONS, **near),
        ),
    }


def operations(cache: object, tagged: bool) -> dict[str, Callable[[], object]]:
    tags = TAGS if tagged else None
    cache.set(KEY, VALUE, tags=tags)  # type: ignore[attr-defined]
    return {
        "get": lambda: cache.get(KEY),  # type: ignore[attr-defined]
        "set": lambda: cache.set(KEY, VALUE, tags=tags),  # type: ignore[attr-defined]
    }


def rate(op: Callable[[], object], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            op()
        done += 100
    return done / elapsed


def read_path(url: str, seconds: float, rounds: int) -> str:
    samples: dict[tuple[str, str, bool], list[float]] = {}
    runs = []
    for store, (plain, parted) in pairs(url).items():
        for tagged, cache in ((False, plain), (True, parted)):
            for op, call in operations(cache, tagged).items():
                call()
                runs.append(((store, op, tagged), call))
    time.sleep(0.5)  # the tracking connections are up
    for _ in range(rounds):
        random.shuffle(runs)
        for ident, call in runs:
            samples.setdefault(ident, []).append(rate(call, seconds))
    lines = [
        "| store | op | plain ops/s | partition + 2 tags ops/s | ratio (target >= 0.95 for get) |",
        "|---|---|---:|---:|---:|",
    ]
    for store in ("memory", "redis", "redis + near-cache"):
        for op in ("get", "set"):
            base = statistics.median(samples[(store, op, False)])
            ours = statistics.median(samples[(store, op, True)])
            lines.append(f"| {store} | {op} | {base:,.0f} | {ours:,.0f} | {ours / base:.2f}x |")
    return "\n".join(lines)


def invalidation(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url)
    lines = ["| operation over 100,000 values | Redis commands | seconds |", "|---|---:|---:|"]
    for name, act in (
        ("invalidate_tags", lambda c: c.invalidate_tags("big")),
        ("invalidate_partition", lambda c: c.invalidate_partition("listeners")),
        ("delete_pattern (SCAN + UNLINK)", lambda c: c.delete_pattern("spotify:user:*")),
    ):
        cache = make(url, "inv", PARTITIONS=PARTITIONS, SOCKET_TIMEOUT=10, FAIL_OPEN=False)
        for start in range(0, MEMBERS, 5000):
            chunk = {f"spotify:user:{i}": i for i in range(start, start + 5000)}
            cache.set_many(chunk, tags=["big"])  # type: ignore[attr-defined]
        before = client.info("stats")["total_commands_processed"]
        began = time.perf_counter()
        act(cache)
        took = time.perf_counter() - began
        commands = client.info("stats")["total_commands_processed"] - before - 1
        assert cache.get("spotify:user:5") is None  # type: ignore[attr-defined]
        lines.append(f"| {name} | {commands} | {took:.6f} |")
        cache.clear()  # type: ignore[attr-defined]
    return "\n".join(lines)


def main() -> None:
    args = arguments(__doc__ or "", seconds=0.3, rounds=5)
    configure()
    with redis_url(args.redis_url) as url:
        body = (
            f"{args.rounds} rounds of {args.seconds} s, median round; value of "
            f"{len(str(VALUE))} characters, AES-GCM under a key derived from SECRET_KEY "
            f"(the default), Python {sys.version.split()[0]}.\n\n"
            + read_path(url, args.seconds, args.rounds)
            + "\n\n"
            + invalidation(url)
        )
    publish("Partitions and tags", body, args.write)


if __name__ == "__main__":
    main()
