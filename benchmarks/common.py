"""What every benchmark script shares: a Redis to run against, and publishing results."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "docs" / "benchmarks.md"


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
