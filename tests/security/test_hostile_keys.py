"""Hostile caller keys: control characters, ``{}`` (Redis Cluster hash tags), glob
characters, ``:`` and backslashes cannot make two keys collide or a key leave
its partition, on the memory store and on Redis.  Properties over generated keys.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotify_cache.codecs.sealing import generate_key
from spotify_cache.namespace import glob_escape
from tests.helpers import make_cache

pytestmark = pytest.mark.filterwarnings("ignore::django.core.cache.CacheKeyWarning")

K1 = generate_key()
#: Prefixes that are themselves hostile: glob characters, braces, nested in each other.
PARTITIONS = {
    "users": {"PREFIX": "user:"},
    "braced": {"PREFIX": "user:{"},
    "starred": {"PREFIX": "user:*"},
    "classy": {"PREFIX": "user:[a-z]"},
    "escaped": {"PREFIX": "user:\\"},
    "tracks": {"PREFIX": "track:"},
}
HOSTILE = "{}*?[]^-\\:\x00\n\r\t\x1b\x7f %/"
ALPHABET = st.one_of(
    st.sampled_from(HOSTILE),
    st.characters(codec="utf-8", exclude_categories=("Cs",)),
)
SUFFIXES = st.text(ALPHABET, max_size=24)
KEYS = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(["", *(p["PREFIX"] for p in PARTITIONS.values()), "use", "user"]),
    SUFFIXES,
)
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> Any:
    options: dict[str, Any] = {"ENCRYPTION_KEYS": [K1], "PARTITIONS": PARTITIONS}
    if request.param == "memory":
        location = f"memory://keys-{os.urandom(3).hex()}"
        options["MAX_ENTRIES"] = 100_000
    else:
        location = request.getfixturevalue("redis_url")
    cache = make_cache(location, KEY_PREFIX="hk" + os.urandom(3).hex(), **options)
    yield cache
    cache.clear()


def expected_partition(key: str) -> str:
    """The longest configured prefix ``key`` starts with, as plain text (never a glob)."""
    matching = [(len(p["PREFIX"]), n) for n, p in PARTITIONS.items() if key.startswith(p["PREFIX"])]
    return max(matching)[1] if matching else "default"


def matching_siblings(key: str) -> list[str]:
    """Keys that ``key`` read as a Redis glob would match, other than ``key`` itself."""
    out = []
    for fill in ("a", "zz", ""):
        sibling = re.sub(r"\[[^\]]*\]", "a", key).replace("*", fill).replace("?", "q")
        if sibling != key:
            out.append(sibling)
    return out


@PROPERTY
@given(keys=st.lists(KEYS, min_size=2, max_size=12, unique=True))
def test_distinct_keys_never_share_a_store_key_or_a_value(cache: Any, keys: list[str]) -> None:
    store_keys = [cache.make_and_validate_key(k) for k in keys]
    assert len(set(store_keys)) == len(keys)
    values = {k: f"value of {k!r}" for k in keys}
    cache.set_many(values, 60)
    assert cache.get_many(keys) == values
    for key in keys:
        assert cache.get(key) == values[key]
    cache.delete_many(keys)


@PROPERTY
@given(key=KEYS)
def test_a_key_stays_in_the_partition_its_prefix_names(cache: Any, key: str) -> None:
    """``partition_of`` is the longest plain-text prefix match, and the value is
    bound to that partition: invalidating any other partition leaves it, its own
    partition takes it."""
    name = expected_partition(key)
    assert cache.partition_of(key) == name
    cache.set(key, "v", 60)
    for other in PARTITIONS.keys() - {name}:
        cache.invalidate_partition(other)
    assert cache.get(key) == "v"
    cache.invalidate_partition(name)
    assert cache.get(key) is None


@PROPERTY
@given(suffix=SUFFIXES, glob=st.sampled_from(["*", "?", "[ab]", "[^x]", "*[a-z]?"]))
def test_invalidating_a_key_with_glob_characters_removes_only_that_key(
    cache: Any, suffix: str, glob: str
) -> None:
    key = f"user:{suffix}{glob}"
    siblings = [s for s in matching_siblings(key) if s != key]
    cache.set(key, "target", 60)
    cache.set_many({s: f"sibling {s!r}" for s in siblings}, 60)
    assert cache.invalidate(key, glob=False) == 1
    assert cache.get(key) is None
    assert cache.get_many(siblings) == {s: f"sibling {s!r}" for s in siblings}
    cache.set(key, "again", 60)
    assert cache.delete_pattern(glob_escape(key)) == 1  # escaped: the key alone
    assert cache.get_many(siblings) == {s: f"sibling {s!r}" for s in siblings}
    cache.delete_many(siblings)


@PROPERTY
@given(key=KEYS, other=KEYS)
def test_a_blob_moved_between_hostile_keys_reads_as_a_miss(
    cache: Any, key: str, other: str
) -> None:
    if cache.make_and_validate_key(key) == cache.make_and_validate_key(other):
        return
    cache.set(key, "mine", 60)
    store = cache.store
    store.set(cache.make_and_validate_key(other), store.get(cache.make_and_validate_key(key)), 60)
    assert cache.get(other) is None
    assert cache.get(key) == "mine"
    cache.delete_many([key, other])
