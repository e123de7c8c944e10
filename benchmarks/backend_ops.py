"""Ops/s of SpotifyCache against django-redis and Django's RedisCache on one Redis.

    python benchmarks/backend_ops.py [--redis-url URL] [--seconds 0.3] [--rounds 5]

Measures get, set and get_many(100) at 100 B, 2 KB and 50 KB values for:
ours authenticated only (HMAC), ours AES-GCM-encrypted (both without
compression, like the peers), ours with default options (AES-GCM under a key
derived from SECRET_KEY, zstd above 16 KiB), django-redis (default client,
pickle) and Django's RedisCache.  Configurations are interleaved round by
round, in a new random order each round, so drift and position effects hit
all of them alike; the median round is reported, and ratios are against
django-redis from the same run.  Besides
wall-clock ops/s (dominated on loopback by the round trip and its jitter) it
reports the client's CPU time per operation, which is what the libraries
themselves add.
Starts a private redis-server unless --redis-url is given.  Prints a markdown
table; --write appends it, dated, to docs/benchmarks.md.
"""

from __future__ import annotations

import pickle
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import arguments, publish, redis_url

SIZES = {"100 B": 100, "2 KB": 2048, "50 KB": 51200}
OPS = ("get", "set", "get_many(100)")
SAFE_PEER = "django-redis, 0.25 s timeouts"
CONFIGS = (
    "ours: HMAC",
    "ours: AES-GCM",
    "ours: defaults",
    "django-redis",
    SAFE_PEER,
    "Django RedisCache",
)
#: Ratios are given against both: django-redis at its defaults (no socket timeouts,
#: so a hung Redis hangs the request) and with the timeouts our defaults impose
#: (Python then waits in poll() before each recv()).
PEERS = ("django-redis", SAFE_PEER)


def payload(size: int, seed: int = 7) -> dict:
    """A listener's top tracks: realistic, partly compressible, about ``size`` bytes pickled."""
    rng = random.Random(seed)
    tracks: list[dict] = []
    value = {"listener": 123, "tracks": tracks}
    while len(pickle.dumps(value)) < size:
        tracks.append(
            {
                "id": rng.getrandbits(62),
                "title": f"Track {rng.randint(1, 10**6)}",
                "plays": rng.randint(0, 5000),
                "energy": round(rng.random(), 3),
            }
        )
    return value


def configure(url: str) -> None:
    import django
    from django.conf import settings

    from spotify_cache.codecs.sealing import generate_key

    ours = {"BACKEND": "spotify_cache.backend.SpotifyCache", "LOCATION": url}
    settings.configure(
        SECRET_KEY="benchmark-secret",
        CACHES={
            "ours: HMAC": {
                **ours,
                "KEY_PREFIX": "h",
                "OPTIONS": {"ALGORITHM": "hmac", "COMPRESSOR": None},
            },
            "ours: AES-GCM": {
                **ours,
                "KEY_PREFIX": "a",
                "OPTIONS": {"ENCRYPTION_KEYS": [generate_key()], "COMPRESSOR": None},
            },
            "ours: defaults": {**ours, "KEY_PREFIX": "z"},
            "django-redis": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": "d",
            },
            SAFE_PEER: {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": "s",
                "OPTIONS": {"SOCKET_TIMEOUT": 0.25, "SOCKET_CONNECT_TIMEOUT": 0.25},
            },
            "Django RedisCache": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": "r",
            },
        },
    )
    django.setup()


def operation(cache, op: str, value: dict) -> Callable[[], object]:
    keys = [f"bench:{i}" for i in range(100)]
    cache.set_many(dict.fromkeys(keys, value), 600)
    if op == "get":
        return lambda: cache.get("bench:7")
    if op == "set":
        return lambda: cache.set("bench:7", value, 600)
    return lambda: cache.get_many(keys)


def ops_per_second(call: Callable[[], object], seconds: float) -> float:
    return measure_call(call, seconds)[0]


def measure_call(call: Callable[[], object], seconds: float) -> tuple[float, float]:
    """Wall-clock ops/s, and client CPU microseconds per op (immune to network jitter)."""
    for _ in range(20):
        call()
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(10):
            call()
        count += 10
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return count / wall, cpu / count * 1e6


Results = dict[tuple[str, str, str], tuple[float, float]]


def measure(seconds: float, rounds: int) -> Results:
    from django.core.cache import caches

    samples: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    order = random.Random(11)
    for size_name, size in SIZES.items():
        value = payload(size)
        for op in OPS:
            calls = {c: operation(caches[c], op, value) for c in CONFIGS}
            for _ in range(rounds):
                # A new order each round: no configuration always follows the same one.
                for config in order.sample(CONFIGS, len(CONFIGS)):
                    sample = measure_call(calls[config], seconds)
                    samples.setdefault((size_name, op, config), []).append(sample)
    return {
        k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v))
        for k, v in samples.items()
    }


def table(results: Results, column: int, fmt: str, better: str) -> str:
    """One markdown table of ``column`` (0: ops/s, 1: CPU us/op) with ratios to the peers."""
    ratio_names = [f"{ours} vs {peer}" for peer in PEERS for ours in ("HMAC", "AES-GCM")]
    head = "| value | op | " + " | ".join((*CONFIGS, *ratio_names)) + " |"
    lines = [head, "|" + "---|" * (len(CONFIGS) + len(ratio_names) + 2)]
    for size_name in SIZES:
        for op in OPS:
            cells = [results[(size_name, op, c)][column] for c in CONFIGS]
            ratios = [
                _ratio(cell, results[(size_name, op, peer)][column], better)
                for peer in PEERS
                for cell in cells[:2]
            ]
            lines.append(
                f"| {size_name} | {op} | "
                + " | ".join(fmt.format(c) for c in cells)
                + " | "
                + " | ".join(f"{r:.2f}x" for r in ratios)
                + " |"
            )
    return "\n".join(lines)


def _ratio(ours: float, peer: float, better: str) -> float:
    return ours / peer if better == "higher" else peer / ours


def report(results: Results) -> str:
    return (
        "Throughput, ops/s (ratio: ours / peer):\n\n"
        + table(results, 0, "{:,.0f}", "higher")
        + "\n\nClient CPU per operation, microseconds (ratio: peer / ours, "
        "above 1 means ours costs less):\n\n" + table(results, 1, "{:.1f}", "lower")
    )


def main() -> None:
    args = arguments(__doc__, seconds=0.3, rounds=5)
    with redis_url(args.redis_url) as url:
        configure(url)
        publish("Backend ops/s", report(measure(args.seconds, args.rounds)), args.write)


if __name__ == "__main__":
    main()
