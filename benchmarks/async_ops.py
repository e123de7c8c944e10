"""Async get/set under concurrency: native ``redis.asyncio`` against thread-hopping peers.

    python benchmarks/async_ops.py [--redis-url URL] [--seconds 0.5] [--rounds 3] [--write]

Django's ``BaseCache`` gives every backend ``aget``/``aset`` by running the sync
method through ``sync_to_async``; django-redis and Django's ``RedisCache``
rely on that.  ``SpotifyCache`` sends the command from the event loop itself.
Measures ops/s of ``aget`` and ``aset`` of a 2 KB value with 1 and with 32
concurrent tasks on one event loop.  Configurations are interleaved round by round in a
new random order; the median round is reported, with ratios against
django-redis from the same run.  Starts a private redis-server unless
--redis-url is given; --write appends the table to docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.backend_ops import configure, payload
from benchmarks.common import arguments, publish, redis_url

CONFIGS = ("ours: HMAC", "ours: AES-GCM", "django-redis", "Django RedisCache")
PEER = "django-redis"
OPS = ("aget", "aset")
CONCURRENCY = (1, 32)


def operation(cache, op: str, value: dict) -> Callable[[], Awaitable[object]]:
    if op == "aget":
        return lambda: cache.aget("bench:7")
    return lambda: cache.aset("bench:7", value, 600)


async def ops_per_second(
    call: Callable[[], Awaitable[object]], tasks: int, seconds: float
) -> float:
    for _ in range(20):
        await call()
    count = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            await call()
            count += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return count / (time.perf_counter() - start)


async def measure(seconds: float, rounds: int) -> dict[tuple[str, int, str], float]:
    from django.core.cache import caches

    value = payload(2048)
    order = random.Random(13)
    samples: dict[tuple[str, int, str], list[float]] = {}
    for op in OPS:
        for tasks in CONCURRENCY:
            calls = {c: operation(caches[c], op, value) for c in CONFIGS}
            for config in CONFIGS:  # aget reads a value that is there
                caches[config].set("bench:7", value, 600)
            for _ in range(rounds):
                for config in order.sample(CONFIGS, len(CONFIGS)):
                    rate = await ops_per_second(calls[config], tasks, seconds)
                    samples.setdefault((op, tasks, config), []).append(rate)
    return {k: statistics.median(v) for k, v in samples.items()}


def report(results: dict[tuple[str, int, str], float]) -> str:
    ours = [c for c in CONFIGS if c.startswith("ours")]
    head = (
        "| op | tasks | " + " | ".join(CONFIGS) + " | " + " | ".join(f"{o} vs {PEER}" for o in ours)
    )
    lines = [head + " |", "|" + "---|" * (2 + len(CONFIGS) + len(ours))]
    for op in OPS:
        for tasks in CONCURRENCY:
            cells = " | ".join(f"{results[(op, tasks, c)]:,.0f}" for c in CONFIGS)
            ratios = " | ".join(
                f"{results[(op, tasks, o)] / results[(op, tasks, PEER)]:.2f}x" for o in ours
            )
            lines.append(f"| {op} | {tasks} | {cells} | {ratios} |")
    return "2 KB value, ops/s on one event loop (ratio: ours / django-redis):\n\n" + "\n".join(
        lines
    )


def main() -> None:
    args = arguments(__doc__, seconds=0.5, rounds=3)
    with redis_url(args.redis_url) as url:
        configure(url)
        results = asyncio.run(measure(args.seconds, args.rounds))
        publish("Async ops/s", report(results), args.write)


if __name__ == "__main__":
    main()
