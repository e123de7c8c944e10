"""What fail-open costs while Redis is healthy: ops/s with FAIL_OPEN True vs False.

    python benchmarks/failover.py [--redis-url URL] [--seconds 0.3] [--rounds 9] [--write]

Two caches on one Redis, identical but for ``FAIL_OPEN``: with it (the
default), every store call goes through ``FailoverStore`` and stamped reads
through its version-records wrapper, with the breaker closed; without it the
Redis store is called directly.  Measures get, set and get_many(100) at 100 B
and 2 KB, and a get of a value written with two tags (its stamp is checked
through the wrapper).  The two configurations alternate, in a new random
order each round; the median round is reported, with the client's CPU time
per operation.  On a shared, busy machine both move by more than the 2%
target, so the script also times the wrapper alone, in process: a
``FailoverStore`` over a memory store against that memory store, best of
many repeats (``timeit``), which gives the nanoseconds a call adds; their
share of a Redis get is that over the get's own time.  Target: under 2% of
get ops/s.
Starts a private redis-server unless --redis-url is given; --write appends
the dated table to docs/benchmarks.md.
"""

from __future__ import annotations

import random
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.backend_ops import measure_call, payload
from benchmarks.common import arguments, publish, redis_url

SIZES = {"100 B": 100, "2 KB": 2048}
OPS = ("get", "get (2 tags)", "set", "get_many(100)")
CONFIGS = ("FAIL_OPEN True", "FAIL_OPEN False")

Results = dict[tuple[str, str, str], tuple[float, float]]


def configure(url: str) -> None:
    import django
    from django.conf import settings

    base = {"BACKEND": "spotify_cache.backend.SpotifyCache", "LOCATION": url}
    settings.configure(
        SECRET_KEY="benchmark-secret",
        CACHES={
            "FAIL_OPEN True": {**base, "KEY_PREFIX": "fo1", "OPTIONS": {"COMPRESSOR": None}},
            "FAIL_OPEN False": {
                **base,
                "KEY_PREFIX": "fo0",
                "OPTIONS": {"COMPRESSOR": None, "FAIL_OPEN": False},
            },
        },
    )
    django.setup()


def operation(cache, op: str, value: dict) -> Callable[[], object]:
    keys = [f"bench:{i}" for i in range(100)]
    cache.set_many(dict.fromkeys(keys, value), 600)
    cache.set("tagged", value, 600, tags=["listener:1", "artist:7"])
    if op == "get":
        return lambda: cache.get("bench:7")
    if op == "get (2 tags)":
        return lambda: cache.get("tagged")
    if op == "set":
        return lambda: cache.set("bench:7", value, 600)
    return lambda: cache.get_many(keys)


def measure(seconds: float, rounds: int) -> Results:
    from django.core.cache import caches

    samples: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    order = random.Random(5)
    for size_name, size in SIZES.items():
        value = payload(size)
        for op in OPS:
            calls = {c: operation(caches[c], op, value) for c in CONFIGS}
            for _ in range(rounds):
                for config in order.sample(CONFIGS, len(CONFIGS)):
                    sample = measure_call(calls[config], seconds)
                    samples.setdefault((size_name, op, config), []).append(sample)
    return {
        k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v))
        for k, v in samples.items()
    }


def wrapper_ns() -> dict[str, float]:
    """Nanoseconds ``FailoverStore`` adds to a call (breaker closed), best of 25 repeats."""
    from spotify_cache.stores.failover import FailoverStore, build_failover
    from spotify_cache.stores.memory import MemoryStore

    bare = MemoryStore("", {"MAX_ENTRIES": 1000})
    wrapped = FailoverStore(bare, build_failover(bare, {}))
    bare.set("k", b"x" * 100, None)
    added = {}
    for op, call in (("get", lambda s: s.get("k")), ("set", lambda s: s.set("k", b"y", None))):
        times = [
            min(timeit.repeat(lambda s=store, c=call: c(s), number=20000, repeat=25)) / 20000
            for store in (wrapped, bare)
        ]
        added[op] = (times[0] - times[1]) * 1e9
    return added


def report(results: Results) -> str:
    on, off = CONFIGS
    lines = [
        f"| value | op | ops/s {on} | ops/s {off} | ops/s ratio | "
        f"CPU us/op {on} | CPU us/op {off} | CPU added |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size_name in SIZES:
        for op in OPS:
            (rate_on, cpu_on), (rate_off, cpu_off) = (results[(size_name, op, c)] for c in CONFIGS)
            lines.append(
                f"| {size_name} | {op} | {rate_on:,.0f} | {rate_off:,.0f} | "
                f"{rate_on / rate_off:.3f}x | {cpu_on:.2f} | {cpu_off:.2f} | "
                f"{(cpu_on - cpu_off) / cpu_off * 100:+.1f}% |"
            )
    added = wrapper_ns()
    shares = []
    for op in ("get", "set"):
        per_call_us = 1e6 / results[("100 B", op, CONFIGS[1])][0]
        shares.append(
            f"{op}: +{added[op]:.0f} ns per call, {added[op] / 10 / per_call_us:.2f}% of a "
            f"100 B {op} ({per_call_us:.1f} us here)"
        )
    return (
        "Breaker closed, Redis healthy; ratio: FAIL_OPEN True / False (1.000x: no cost).\n\n"
        + "\n".join(lines)
        + "\n\nThe wrapper alone (in process, best of 25 x 20,000 calls): "
        + "; ".join(shares)
        + "."
    )


def main() -> None:
    args = arguments(__doc__, seconds=0.3, rounds=9)
    with redis_url(args.redis_url) as url:
        configure(url)
        publish("Fail-open overhead", report(measure(args.seconds, args.rounds)), args.write)


if __name__ == "__main__":
    main()
