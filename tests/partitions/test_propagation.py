"""Propagation: an invalidation made in one process reaches another process's
near-cache (and its copy of the version records) within milliseconds."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from spotify_cache.backend import SpotifyCache
from spotify_cache.codecs.sealing import generate_key
from tests.partitions.conftest import PARTITIONS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pair(redis_url: str):
    """This process's cache and a child process reading the same keys."""
    prefix = f"prop{uuid.uuid4().hex[:8]}"
    options = {
        "ENCRYPTION_KEYS": [generate_key()],
        "PARTITIONS": PARTITIONS,
        "NEAR_CACHE": {"MAX_ENTRIES": 100, "TTL": 60},
    }
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.partitions.propagation_child",
            redis_url,
            prefix,
            json.dumps(options),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    cache = SpotifyCache(redis_url, {"KEY_PREFIX": prefix, "OPTIONS": options})
    yield cache, child
    child.kill()
    child.wait(5)
    cache.clear()


def _ask(child: subprocess.Popen, command: str) -> str:
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(command + "\n")
    child.stdin.flush()
    return child.stdout.readline().strip()


INVALIDATE = {
    "key": lambda cache, key: cache.invalidate(key),
    "tag": lambda cache, key: cache.invalidate_tags("listener:9"),
    "partition": lambda cache, key: cache.invalidate_partition("listeners"),
}


@pytest.mark.parametrize("kind", ["key", "tag", "partition"])
def test_invalidation_reaches_another_process(pair, kind: str, record_property) -> None:
    cache, child = pair
    key = f"spotify:user:9:{kind}"
    cache.set(key, "v1", tags=["listener:9"])
    assert _ask(child, f"warm {key}") == "warm v1"
    assert _ask(child, f"watch {key}") == "watching"
    time.sleep(0.05)  # the child is now serving the key from its own memory
    INVALIDATE[kind](cache, key)
    done = time.time()
    assert child.stdout is not None
    answer = child.stdout.readline().split()
    delay_ms = max(0.0, (float(answer[1]) - done) * 1000)
    record_property(f"propagation_ms_{kind}", round(delay_ms, 2))
    print(f"propagation of a {kind} invalidation: {delay_ms:.2f} ms")
    assert answer[0] == "gone" and delay_ms < 1000
