"""The near-cache against a Redis round trip, and its cross-process propagation delay.

    python benchmarks/near_cache.py [--redis-url URL] [--seconds 0.5] [--rounds 5] [--write]

* ops/s of ``get`` on a near-cache hit, on the same backend without a
  near-cache (a Redis round trip plus the same authentication and unpickling),
  and of a bare redis-py ``GET`` (the round trip alone);
* the propagation delay: a second process writes a new value, and this one
  polls its near-cache until it sees it; the delay runs from the moment the
  writer's ``set`` returned.  Starts a private redis-server unless --redis-url.
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.backend_ops import ops_per_second, payload  # noqa: E402
from benchmarks.common import arguments, publish, redis_url  # noqa: E402


def setup_django() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(SECRET_KEY="benchmark-secret")
        django.setup()


def build(url: str, near: bool):
    from spotify_cache.backend import SpotifyCache

    options = {"NEAR_CACHE": {"MAX_ENTRIES": 1000}} if near else {}
    return SpotifyCache(url, {"KEY_PREFIX": "nearbench", "OPTIONS": options})


def rates(url: str, seconds: float, rounds: int) -> dict[str, float]:
    near, plain = build(url, True), build(url, False)
    near.store.tracker.wait_ready(5)
    plain.set("k", payload(100))
    while near.store.local.get(near.make_key("k")) is None:  # settle the fill
        near.get("k")
        time.sleep(0.01)
    raw = plain.get_client()
    calls = {
        "near-cache hit": lambda: near.get("k"),
        "backend get via Redis": lambda: plain.get("k"),
        "bare redis-py GET": lambda: raw.get("nearbench:1:k"),
    }
    samples: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, call in calls.items():
            samples.setdefault(name, []).append(ops_per_second(call, seconds))
    return {name: statistics.median(v) for name, v in samples.items()}


def _writer(url: str, commands, acks) -> None:
    setup_django()
    writer = build(url, False)
    while (value := commands.get()) is not None:
        writer.set("shared", value)
        acks.put(time.monotonic())


def propagation(url: str, updates: int = 200) -> list[float]:
    reader = build(url, True)
    reader.store.tracker.wait_ready(5)
    ctx = multiprocessing.get_context("spawn")
    commands, acks = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_writer, args=(url, commands, acks))
    proc.start()
    delays = []
    try:
        for value in range(1, updates + 1):
            commands.put(value)
            returned = acks.get(timeout=30)
            while reader.get("shared") != value:
                pass
            delays.append(time.monotonic() - returned)
    finally:
        commands.put(None)
        proc.join(10)
    return sorted(delays)


def report(result: dict[str, float], delays: list[float]) -> str:
    hit = result["near-cache hit"]
    lines = ["| read | ops/s | near-cache hit speed-up |", "|---|---|---|"]
    lines += [f"| {name} | {rate:,.0f} | {hit / rate:.1f}x |" for name, rate in result.items()]
    pct = [delays[int(len(delays) * q)] * 1e3 for q in (0.5, 0.99)]
    lines.append(
        f"\nPropagation delay over {len(delays)} writes from another process: "
        f"p50 {pct[0]:.3f} ms, p99 {pct[1]:.3f} ms, max {delays[-1] * 1e3:.3f} ms."
    )
    return "\n".join(lines)


def main() -> None:
    args = arguments(__doc__, seconds=0.5, rounds=5)
    setup_django()
    with redis_url(args.redis_url) as url:
        body = report(rates(url, args.seconds, args.rounds), propagation(url))
    publish("Near-cache", body, args.write)


if __name__ == "__main__":
    main()
