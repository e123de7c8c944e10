"""Replay a request trace against a real eviction strategy and report its miss ratio.

Usage::

    python -m spotify_cache.simulate TRACE --policy NAME --size N [--bytes]

``TRACE`` is a gzip CSV with the header ``time,key,size`` (see
``shared/traces/README.md`` beside the repository).  ``NAME`` is anything
``spotify_cache.strategies.make_strategy`` accepts: ``lru``, ``lfu``,
``adaptive`` or a dotted path.  ``N`` is the capacity in entries, or in bytes
with ``--bytes``.  One JSON object is printed on stdout::

    {"requests": ..., "hits": ..., "miss_ratio": ..., "byte_miss_ratio": ..., "seconds": ...}

The simulator plays the memory store's part: it owns the key -> size dict and
calls the strategy hooks in the store's order, so what it measures is the
strategy that runs in production, not a re-implementation.  It needs no Django
settings.  Errors (missing or malformed trace, unknown policy, bad size) exit
with status 2 and a message on stderr.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .strategies import make_strategy

HEADER = "time,key,size"


class TraceError(ValueError):
    """Raised when a trace file is missing or not in the ``time,key,size`` format."""


@dataclass(frozen=True)
class Trace:
    """A loaded trace: dense integer keys (one per distinct token) and sizes."""

    keys: list[int]
    sizes: list[int]
    unique: int

    def __len__(self) -> int:
        return len(self.keys)


def load_trace(path: str) -> Trace:
    """Read a gzip ``time,key,size`` trace; raise ``TraceError`` naming the problem."""
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as lines:
            return _parse(path, lines)
    except FileNotFoundError as exc:
        raise TraceError(f"{path}: no such trace file") from exc
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: not a readable gzip CSV trace ({exc})") from exc


def _parse(path: str, lines: Any) -> Trace:
    header = next(lines, "").strip()
    if header != HEADER:
        raise TraceError(f"{path}: expected header {HEADER!r}, found {header[:60]!r}")
    # Tokens become dense ints: equal tokens share one int, which keeps a
    # multi-million request trace in tens of megabytes.
    ids: dict[str, int] = {}
    keys: list[int] = []
    sizes: list[int] = []
    for number, line in enumerate(lines, start=2):
        try:
            _, token, size = line.rstrip("\r\n").split(",")
            sizes.append(int(size))
        except ValueError as exc:
            message = f"{path}:{number}: expected 'time,key,size', got {line[:60]!r}"
            raise TraceError(message) from exc
        keys.append(ids.setdefault(token, len(ids)))
    return Trace(keys, sizes, len(ids))


def simulate(policy: Any, trace: Trace, capacity: int, *, weighted: bool = False) -> dict[str, Any]:
    """Replay ``trace`` through strategy ``policy`` in a cache of ``capacity``.

    Capacity counts entries, or bytes when ``weighted``; an object larger than
    the whole cache is counted as a miss and not admitted.
    """
    strategy = make_strategy(policy, capacity, weighted=weighted)
    started = time.perf_counter()
    hits, hit_bytes = _replay(strategy, trace, capacity, weighted)
    total_bytes = sum(trace.sizes)
    requests = len(trace)
    return {
        "requests": requests,
        "hits": hits,
        "miss_ratio": 1 - hits / requests if requests else 0.0,
        "byte_miss_ratio": 1 - hit_bytes / total_bytes if total_bytes else 0.0,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _replay(strategy: Any, trace: Trace, capacity: int, weighted: bool) -> tuple[int, int]:
    # One flat loop with hoisted attribute lookups: this is the hot path of
    # every benchmark, and Python charges for each dotted name.
    on_hit, record_miss = strategy.on_hit, strategy.record_miss
    on_insert, victim = strategy.on_insert, strategy.victim
    cached: dict[int, int] = {}
    used = hits = hit_bytes = 0
    for key, size in zip(trace.keys, trace.sizes, strict=True):
        if key in cached:
            hits += 1
            hit_bytes += size
            on_hit(key)
            continue
        record_miss(key)
        cost = size if weighted else 1
        if cost > capacity:
            continue
        cached[key] = cost
        used += cost
        on_insert(key, cost)
        while used > capacity:
            used -= cached.pop(victim())
    return hits, hit_bytes


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size must be a positive integer, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m spotify_cache.simulate",
        description="Replay a gzip time,key,size trace against an eviction strategy.",
    )
    parser.add_argument("trace", help="gzip CSV trace with header time,key,size")
    parser.add_argument("--policy", required=True, help="lru, lfu, adaptive or a dotted path")
    parser.add_argument("--size", required=True, type=_positive, help="capacity in entries")
    parser.add_argument("--bytes", action="store_true", help="capacity and costs in bytes")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    args = _parser().parse_args(argv)
    try:
        make_strategy(args.policy, args.size, weighted=args.bytes)
        trace = load_trace(args.trace)
    except (TraceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = simulate(args.policy, trace, args.size, weighted=args.bytes)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
