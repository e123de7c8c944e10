"""What fail-open costs while Redis is healthy: ops/s with FAIL_OPEN True vs False.

    python benchmarks/failover.py [--redis-url URL] [--seconds 0.2] [--rounds 21] [--write]

Two caches on one Redis, identical but for ``FAIL_OPEN`` (and a third, a
second ``FAIL_OPEN: False`` one, as a control of the noise): with it (the
default), every store call goes through ``FailoverStore`` and stamped reads
through its version-records wrapper, with the breaker closed; without it the
Redis store is called directly.  Measures get, set and get_many(100) at 100 B
and 2 KB, and a get of a value written with two tags (its stamp is checked
through the wrapper).  The configurations alternate, in a new random
order each round; reported are the median round of each, the client's CPU
time per operation, and the median (with quartiles) of the per-round ratios,
which cancels the load drifting between rounds.  On a shared, busy machine
all of these move by more than the 2% target, so the script also times the
wrapper alone, in process: a ``FailoverStore`` over a memory store against
that memory store, best of many repeats (``timeit``), which gives the
nanoseconds a call adds; their share of a Redis get is that over the get's
own time.  Target: under 2% of get ops/s.
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
CONFIGS = ("FAIL_OPEN True", "FAIL_OPEN False", "control")

Results = dict[tuple[str, str, str], tuple[float, float]]
Paired = dict[tuple[str, str, str], list[float]]


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
            # FAIL_OPEN False again: its ratio to the above is the noise floor
            "control": {
                **base,
                "KEY_PREFIX": "fo2",
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


def measure(seconds: float, rounds: int) -> tuple[Results, Paired]:
    """Medians per configuration, and each round's ratio of the two (paired, so
    that the machine's load, which drifts between rounds, cancels)."""
    from django.core.cache import caches

    samples: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    paired: Paired = {}
    order = random.Random(5)
    for size_name, size in SIZES.items():
        value = payload(size)
        for op in OPS:
            calls = {c: operation(caches[c], op, value) for c in CONFIGS}
            for _ in range(rounds):
                got = {c: measure_call(calls[c], seconds) for c in order.sample(CONFIGS, 3)}
                for config, sample in got.items():
                    samples.setdefault((size_name, op, config), []).append(sample)
                for config in (CONFIGS[0], CONFIGS[2]):
                    ratio = got[config][0] / got[CONFIGS[1]][0]
                    paired.setdefault((size_name, op, config), []).append(ratio)
    medians = {
        k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v))
        for k, v in samples.items()
    }
    return medians, paired


def wrapper_ns() -> dict[str, float]:
    """Nanoseconds ``FailoverStore`` adds to a call (breaker closed), best of 25 repeats."""
    from spotify_cache.stores.failover import FailoverStore, build_failover
    from spotify_cache.stores.memory import MemoryStore

    bare = MemoryStore("", {"MAX_ENTRIES": 1000})
    wrapped = FailoverStore(bare, build_failover(bare, {}))
    bare.set("k", b"x" * 100, None)
    added = {}
    for op, args in (("get", ("k",)), ("set", ("k", b"y", None))):
        best = [_best(getattr(store, op), args) for store in (wrapped, bare)]
        added[op] = (best[0] - best[1]) * 1e9
    return added


def _best(method: Callable[..., object], args: tuple[object, ...]) -> float:
    """Seconds per call of ``method(*args)``, best of 25 repeats of 20,000 calls."""
    return min(timeit.repeat(lambda: method(*args), number=20000, repeat=25)) / 20000


def report(results: Results, paired: Paired) -> str:
    on, off, control = CONFIGS
    lines = [
        f"| value | op | ops/s {on} | ops/s {off} | {on} / {off}, paired | "
        f"control: {off} / {off}, paired | CPU us/op {on} | CPU us/op {off} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size_name in SIZES:
        for op in OPS:
            (rate_on, cpu_on), (rate_off, cpu_off) = (
                results[(size_name, op, c)] for c in CONFIGS[:2]
            )
            lines.append(
                f"| {size_name} | {op} | {rate_on:,.0f} | {rate_off:,.0f} | "
                f"{_spread(paired[(size_name, op, on)])} | "
                f"{_spread(paired[(size_name, op, control)])} | {cpu_on:.1f} | {cpu_off:.1f} |"
            )
    added = wrapper_ns()
    shares = []
    for op in ("get", "set"):
        per_call_us = 1e6 / results[("100 B", op, off)][0]
        shares.append(
            f"{op}: +{added[op]:.0f} ns per call, {added[op] / 10 / per_call_us:.2f}% of a "
            f"100 B {op} ({per_call_us:.1f} us here)"
        )
    return (
        "Breaker closed, Redis healthy.  Paired: the ops/s of two configurations measured "
        "back to back in each round, their ratio's median and quartiles over the rounds "
        "(1.000x: no cost).  The control is a second FAIL_OPEN False cache: its spread is "
        "the run's noise.\n\n"
        + "\n".join(lines)
        + "\n\nThe wrapper alone (in process, best of 25 x 20,000 calls): "
        + "; ".join(shares)
        + "."
    )


def _spread(ratios: list[float]) -> str:
    low, mid, high = statistics.quantiles(ratios, n=4)
    return f"{mid:.3f}x ({low:.2f}-{high:.2f})"


def main() -> None:
    args = arguments(__doc__, seconds=0.2, rounds=21)
    with redis_url(args.redis_url) as url:
        configure(url)
        results, paired = measure(args.seconds, args.rounds)
        publish("Fail-open overhead", report(results, paired), args.write)


if __name__ == "__main__":
    main()
