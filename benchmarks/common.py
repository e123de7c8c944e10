"""What every benchmark script shares: its command line, a Redis to run against,
and publishing results."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "docs" / "benchmarks.md"


def arguments(doc: str, *, seconds: float, rounds: int, redis: bool = True) -> argparse.Namespace:
    """``--seconds`` per sample, ``--rounds``, ``--write`` (and ``--redis-url``)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    if redis:
        parser.add_argument("--redis-url", help="default: a private redis-server for the run")
    parser.add_argument("--seconds", type=float, default=seconds)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--write", action="store_true", help="append to docs/benchmarks.md")
    return parser.parse_args()


@contextmanager
def redis_url(given: str | None) -> Iterator[str]:
    """``given``, or the URL of a private redis-server started for the run."""
    if given:
        yield given
        return
    from tests.redis_server import RedisServer

    with RedisServer() as server:
        yield server.url


def publish(title: str, body: str, write: bool) -> None:
    """Print a dated section; with ``write``, append it to docs/benchmarks.md."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"### {title}, {stamp}\n\n{body}\n"
    print(text)
    if write:
        with open(RESULTS, "a") as out:
            out.write("\n" + text)
