"""The trace simulator, run as a real subprocess on slices of the shared traces
(or on a Zipf trace of the same shape where those are not beside the repository)."""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from collections import OrderedDict
from itertools import islice
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT.parent / "shared" / "traces"
FIELDS = {"requests", "hits", "miss_ratio", "byte_miss_ratio", "seconds"}


def _slice(name: str, target: Path, lines: int, sizes: tuple[int, int]) -> Path:
    """The first ``lines`` requests of a shared trace; where the shared traces
    are not checked out beside the repository, a Zipf trace of the same shape."""
    source = TRACES / f"{name}.csv.gz"
    if not source.exists():
        return _zipf_trace(target, lines, sizes)
    with gzip.open(source, "rt") as src, gzip.open(target, "wt") as dst:
        dst.writelines(islice(src, lines + 1))  # header + requests
    return target


def _zipf_trace(target: Path, lines: int, sizes: tuple[int, int], keys: int = 2000) -> Path:
    rng = random.Random(5)
    weights = [1 / rank for rank in range(1, keys + 1)]
    size_of = [rng.randint(*sizes) for _ in range(keys)]
    with gzip.open(target, "wt") as out:
        out.write("time,key,size\n")
        for t, key in enumerate(rng.choices(range(keys), weights, k=lines)):
            out.write(f"{t},k{key},{size_of[key]}\n")
    return target


@pytest.fixture
def web_slice(tmp_path: Path) -> Path:
    return _slice("cache2k_web07", tmp_path / "web07.csv.gz", 5000, sizes=(1, 1))


@pytest.fixture
def sized_slice(tmp_path: Path) -> Path:
    # cloudPhysics blocks are 512 bytes or more
    return _slice("cloudPhysicsIO", tmp_path / "cloud.csv.gz", 5000, sizes=(512, 8192))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, "-m", "spotify_cache.simulate", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def simulate(*args: str) -> dict[str, float]:
    done = run(*args)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    return json.loads(lines[0])


def lru_hits(path: Path, capacity: int) -> int:
    """An LRU count written independently of the project's strategies."""
    cache: OrderedDict[str, None] = OrderedDict()
    hits = 0
    with gzip.open(path, "rt") as lines:
        next(lines)
        for line in lines:
            key = line.split(",")[1]
            if key in cache:
                hits += 1
                cache.move_to_end(key)
                continue
            cache[key] = None
            if len(cache) > capacity:
                cache.popitem(last=False)
    return hits


def test_lru_hits_match_an_independent_lru(web_slice: Path) -> None:
    result = simulate(str(web_slice), "--policy", "lru", "--size", "200")
    assert set(result) == FIELDS
    assert result["requests"] == 5000
    assert result["hits"] == lru_hits(web_slice, 200)
    assert result["hits"] > 0
    assert result["miss_ratio"] == pytest.approx(1 - result["hits"] / 5000)
    # unsized trace: every object is 1 byte, so both ratios agree
    assert result["byte_miss_ratio"] == pytest.approx(result["miss_ratio"])


@pytest.mark.parametrize(
    "policy", ["lru", "lfu", "adaptive", "spotify_cache.strategies.lru.LRUStrategy"]
)
def test_every_policy_runs_and_reports_sane_numbers(web_slice: Path, policy: str) -> None:
    result = simulate(str(web_slice), "--policy", policy, "--size", "100")
    assert result["requests"] == 5000
    assert 0 < result["hits"] < 5000
    assert 0.0 < result["miss_ratio"] < 1.0
    assert result["seconds"] >= 0


def test_dotted_path_is_the_same_strategy_as_its_name(web_slice: Path) -> None:
    by_name = simulate(str(web_slice), "--policy", "lfu", "--size", "150")
    by_path = simulate(
        str(web_slice), "--policy", "spotify_cache.strategies.lfu.LFUStrategy", "--size", "150"
    )
    assert by_name["hits"] == by_path["hits"]


def test_byte_capacity_counts_sizes(sized_slice: Path) -> None:
    by_bytes = simulate(str(sized_slice), "--policy", "adaptive", "--size", "200000", "--bytes")
    assert 0 < by_bytes["hits"] < by_bytes["requests"]
    assert 0.0 < by_bytes["byte_miss_ratio"] < 1.0


def test_objects_larger_than_the_cache_are_not_admitted(sized_slice: Path) -> None:
    # cloudPhysics blocks are at least 512 bytes: a 100-byte cache can hold none.
    result = simulate(str(sized_slice), "--policy", "lru", "--size", "100", "--bytes")
    assert result["hits"] == 0
    assert result["miss_ratio"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv.gz", "--policy", "lru", "--size", "10"], "no such trace"),
        (["{trace}", "--policy", "nope", "--size", "10"], "unknown strategy"),
        (["{trace}", "--policy", "lru", "--size", "0"], "positive integer"),
        (["{trace}", "--policy", "lru", "--size", "ten"], "positive integer"),
        (["{plain}", "--policy", "lru", "--size", "10"], "gzip"),
        (["{headerless}", "--policy", "lru", "--size", "10"], "expected header"),
    ],
)
def test_errors_exit_2_with_a_message(
    web_slice: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    plain = tmp_path / "plain.csv.gz"
    plain.write_text("time,key,size\n1,a,1\n")
    headerless = tmp_path / "headerless.csv.gz"
    with gzip.open(headerless, "wt") as out:
        out.write("1,a,1\n")
    paths = {"trace": str(web_slice), "plain": str(plain), "headerless": str(headerless)}
    done = run(*(arg.format(**paths) for arg in args))
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""
