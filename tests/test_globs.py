"""One glob dialect on every store: Redis's, checked against a real Redis row by row."""

from __future__ import annotations

import random
from urllib.parse import urlsplit

import pytest
import redis

from spotify_cache.stores.globs import glob_matcher, translate
from spotify_cache.stores.memory import MemoryStore

GLOB_DB = 13  # a database of its own: the table writes fixed key names, and flushes

# (pattern, key, whether Redis's SCAN MATCH returns the key)
TABLE = [
    # fnmatch negates with "!"; Redis with "^" (and "!" is a member like any other)
    ("a[!x]b", "a!b", True),
    ("a[!x]b", "axb", True),
    ("a[!x]b", "ayb", False),
    ("a[^x]b", "ayb", True),
    ("a[^x]b", "a!b", True),
    ("a[^x]b", "axb", False),
    # backslash escapes, outside and inside classes
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("a\\[b", "a[b", True),
    ("\\a", "a", True),
    ("a\\", "a\\", True),  # a trailing backslash is itself
    ("[\\]]", "]", True),
    ("[\\]]", "\\", False),
    ("[\\^a]", "^", True),
    ("[a\\-z]", "-", True),
    ("[a\\-z]", "b", False),
    # ranges, either way round
    ("a[a-c]", "ab", True),
    ("a[a-c]", "ad", False),
    ("a[c-a]", "ab", True),
    ("[a-]", "_", True),  # "a-]" is a range, and the class runs on to the end
    ("[a-]", "-", False),
    # odd classes: "]" first closes an empty class; an open class runs to the end
    ("[]a]", "]a]", False),
    ("[^]a]", "xa]", True),
    ("a[", "ab", False),
    ("a[^", "ab", True),
    ("a[bc", "ac", True),
    ("a[bc", "ab", True),
    ("a[bc", "abc", False),
    # * and ?
    ("*", "anything", True),
    ("*", "", True),
    ("**", "", False),
    ("", "", True),
    ("a*", "a", True),
    ("*a*b", "xxaxxb", True),
    ("*a*b", "xxaxxbx", False),
    ("h*llo", "hllo", True),
    ("?", "x", True),
    ("?", "xy", False),
    ("?", "", False),
    # bytes, not characters: "é" is two of them
    ("?", "é", False),
    ("??", "é", True),
    ("[^a]?", "é", True),
    ("a?b", "a\nb", True),
    ("*", "a\nb", True),
    ("x:*:*", "x:1:k", True),
    ("x\\?:*", "xy:1", False),
]


@pytest.fixture
def glob_db(redis_url: str):
    url = urlsplit(redis_url)._replace(path=f"/{GLOB_DB}").geturl()
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def redis_matches(client: redis.Redis, pattern: str, key: str) -> bool:
    client.flushdb()
    client.set(key, b"1")
    return key.encode() in set(client.scan_iter(match=pattern, count=1000))


@pytest.mark.parametrize(("pattern", "key", "expected"), TABLE)
def test_redis_agrees_with_the_table(glob_db, pattern: str, key: str, expected: bool) -> None:
    assert redis_matches(glob_db, pattern, key) is expected


@pytest.mark.parametrize(("pattern", "key", "expected"), TABLE)
def test_translator_agrees_with_the_table(pattern: str, key: str, expected: bool) -> None:
    assert glob_matcher(pattern)(key) is expected, translate(pattern)


@pytest.mark.parametrize(("pattern", "key", "expected"), TABLE)
def test_memory_store_agrees_with_the_table(pattern: str, key: str, expected: bool) -> None:
    store = MemoryStore()
    store.set(key, b"1", None)
    assert (key in set(store.iter_keys(pattern))) is expected


def test_memory_store_lists_around_expired_keys() -> None:
    now = [0.0]
    store = MemoryStore(timer=lambda: now[0])
    store.set("gone", b"1", 1)
    store.set("kept", b"1", None)
    now[0] = 5.0
    assert list(store.iter_keys("*")) == ["kept"]  # once raised "dictionary changed size"


def test_random_patterns_agree_with_redis(glob_db) -> None:
    """Seeded random globs over the metacharacters, each SCANned over the same keys."""
    rng = random.Random(20240611)
    keys = {"".join(rng.choice("ab-]^\\[x") for _ in range(rng.randint(1, 5))) for _ in range(300)}
    glob_db.mset(dict.fromkeys(keys, b"1"))
    for _ in range(300):
        pattern = "".join(rng.choice("ab*?[]^-\\x") for _ in range(rng.randint(1, 6)))
        found = {k.decode() for k in glob_db.scan_iter(match=pattern, count=1000)}
        matches = glob_matcher(pattern)
        assert {k for k in keys if matches(k)} == found, pattern
