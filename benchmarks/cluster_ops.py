"""Ops/s of SpotifyCache on a Redis Cluster against one Redis, on the same machine.

    python benchmarks/cluster_ops.py [--redis-url URL] [--seconds 0.3] [--rounds 5]

Measures get, set and get_many(100) at 100 B and 2 KB values, through the
whole backend (HMAC, no compression), for: one redis-server (the Redis
store) and a private six-node cluster, three primaries with a replica each
(``OPTIONS["CLUSTER"]``).  One client (thread) each, so the figures are the
latency of a call, not the servers' capacity.  Keys are spread over the
slots (every primary serves some).  A third configuration, one Redis with a
replica, shows what replication alone costs a write (the cluster's primaries
replicate too).  Configurations are interleaved round by round in a new
random order; the median round is reported, with the cluster's ratios (the
target is at least 0.9x one Redis for get and set), and the client's CPU
time per call.  Prints a markdown table;
--write appends it, dated, to docs/benchmarks.md.
"""

from __future__ import annotations

import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.backend_ops import measure_call, payload
from benchmarks.common import arguments, publish, redis_url

SIZES = {"100 B": 100, "2 KB": 2048}
OPS = ("get", "set", "get_many(100)")
CONFIGS = ("one Redis", "one Redis + replica", "cluster (3 primaries)")
CLUSTER = CONFIGS[2]
KEYS = [f"bench:{i}" for i in range(100)]

Results = dict[tuple[str, str, str], tuple[float, float]]


def configure(url: str, replicated_url: str, cluster_url: str) -> None:
    import django
    from django.conf import settings

    def cache(location: str, prefix: str, **options: object) -> dict:
        return {
            "BACKEND": "spotify_cache.backend.SpotifyCache",
            "LOCATION": location,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"COMPRESSOR": None, **options},
        }

    settings.configure(
        SECRET_KEY="benchmark-secret",
        CACHES={
            CONFIGS[0]: cache(url, "one"),
            CONFIGS[1]: cache(replicated_url, "rep"),
            CLUSTER: cache(cluster_url, "cl", CLUSTER=True),
        },
    )
    django.setup()


def operation(cache, op: str, value: dict, rng: random.Random) -> Callable[[], object]:
    """A call of ``op`` on a random key each time (so every primary takes its share)."""
    cache.set_many(dict.fromkeys(KEYS, value), 600)
    if op == "get":
        return lambda: cache.get(rng.choice(KEYS))
    if op == "set":
        return lambda: cache.set(rng.choice(KEYS), value, 600)
    return lambda: cache.get_many(KEYS)


def measure(seconds: float, rounds: int) -> Results:
    from django.core.cache import caches

    samples: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    order, rng = random.Random(11), random.Random(5)
    for size_name, size in SIZES.items():
        value = payload(size)
        for op in OPS:
            calls = {c: operation(caches[c], op, value, rng) for c in CONFIGS}
            for _ in range(rounds):
                for config in order.sample(CONFIGS, len(CONFIGS)):
                    sample = measure_call(calls[config], seconds)
                    samples.setdefault((size_name, op, config), []).append(sample)
    return {
        k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v))
        for k, v in samples.items()
    }


def report(results: Results) -> str:
    head = "| value | op | " + " | ".join(f"{c} ops/s" for c in CONFIGS)
    head += " | cluster / one | cluster / one + replica | " + " | ".join(
        f"{c} CPU us/op" for c in CONFIGS
    )
    lines = [head + " |", "|" + "---|" * (2 * len(CONFIGS) + 4)]
    for size_name in SIZES:
        for op in OPS:
            cells = [results[(size_name, op, c)] for c in CONFIGS]
            rates, cpus = [r for r, _ in cells], [c for _, c in cells]
            lines.append(
                f"| {size_name} | {op} | "
                + " | ".join(f"{r:,.0f}" for r in rates)
                + f" | {rates[2] / rates[0]:.2f}x | {rates[2] / rates[1]:.2f}x | "
                + " | ".join(f"{c:.1f}" for c in cpus)
                + " |"
            )
    return (
        "One client, loopback, HMAC, no compression; one Redis alone, one Redis with a "
        "replica, a cluster of three primaries with a replica each (target: cluster >= "
        "0.9x one Redis for get and set):\n\n" + "\n".join(lines)
    )


def main() -> None:
    from tests.redis_cluster import RedisCluster
    from tests.redis_server import RedisServer

    args = arguments(__doc__, seconds=0.3, rounds=5)
    with redis_url(args.redis_url) as url, RedisServer() as primary, RedisServer() as replica:
        replica.client().replicaof("127.0.0.1", primary.port)
        with RedisCluster() as cluster:
            configure(url, primary.url, cluster.url)
            publish("Cluster ops/s", report(measure(args.seconds, args.rounds)), args.write)


if __name__ == "__main__":
    main()
