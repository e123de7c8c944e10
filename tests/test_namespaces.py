"""Caches sharing one Redis database keep to their own keys (``namespace.Namespace``,
the stores' ownership filter, system check E005), and keys that are not UTF-8
never break listing or clearing."""

from __future__ import annotations

import asyncio
import os
import runpy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from django.core.cache.backends.base import default_key_func
from django.test import override_settings

from spotify_cache.checks import check_caches
from spotify_cache.namespace import Namespace, glob_escape, prefixes_collide
from spotify_cache.stores.redis import RedisStore
from tests.helpers import make_cache

NAMESPACE_DB = 12  # fixed prefixes such as "a" need a database no other test writes to
BACKEND = "spotify_cache.backend.SpotifyCache"
# (mine, theirs): a cache with KEY_PREFIX=mine must never reach the keys of KEY_PREFIX=theirs
PAIRS = [("a", "a:x"), ("b?", "bc"), ("c*", "cc"), ("d[", "d"), ("d[a-c]", "db"), ("e\\", "e")]
PAIRS += [("", "f")]
DIRECTED = PAIRS + [(theirs, mine) for mine, theirs in PAIRS]
KEYS = ["k", "1:k", "x:y"]
# Before the backend used Namespace, these pairs reached the other cache's keys
# (or missed their own): a:x, bc, cc, d (its own), db, e.
BROKEN = {("a", "a:x"), ("b?", "bc"), ("c*", "cc"), ("d[", "d"), ("d[a-c]", "db"), ("e\\", "e")}


def directed(broken: set[tuple[str, str]]) -> list:
    return [pytest.param(*pair) for pair in DIRECTED]


def django_make_key(prefix: str):
    """The backend's ``make_key`` for ``KEY_PREFIX=prefix`` (Django's format, version 1)."""
    return lambda key, version=None: default_key_func(
        key, prefix, 1 if version is None else version
    )


def store_keys(prefix: str) -> set[bytes]:
    make_key = django_make_key(prefix)
    return {make_key(key).encode() for key in KEYS}


@pytest.fixture
def db_url(redis_url: str) -> str:
    return urlsplit(redis_url)._replace(path=f"/{NAMESPACE_DB}").geturl()


@pytest.fixture
def db(db_url: str):
    client = redis.Redis.from_url(db_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


# -- Namespace, on its own --------------------------------------------------------------
@pytest.mark.parametrize(("mine", "theirs"), DIRECTED)
def test_namespace_owns_only_its_own_keys(mine: str, theirs: str) -> None:
    namespace = Namespace(django_make_key(mine))
    assert all(namespace.owns(key.decode()) for key in store_keys(mine))
    assert not any(namespace.owns(key.decode()) for key in store_keys(theirs))


@pytest.mark.parametrize("prefix", ["a", "b?", "c*", "d[", "e\\", ""])
def test_namespace_escapes_the_prefix(prefix: str) -> None:
    namespace = Namespace(django_make_key(prefix))
    assert namespace.glob == glob_escape(prefix) + ":*:*"
    assert namespace.pattern("us?r:*", 3) == glob_escape(prefix) + ":3:us?r:*"
    assert namespace.strip(f"{prefix}:3:user:1", 3) == "user:1"


@pytest.mark.parametrize(
    ("key", "owned"),
    [
        ("a:1:k", True),
        ("a:-3:k", True),
        ("a:_gen:k", True),  # the backend's internal records
        ("a:1:line\nbreak", True),
        ("a:1:", True),
        ("a:gen:k", False),
        ("a:1x:k", False),
        ("a:x:1:k", False),
        ("a::k", False),
        ("b:1:k", False),
    ],
)
def test_the_version_part_must_be_a_version(key: str, owned: bool) -> None:
    assert Namespace(django_make_key("a")).owns(key) is owned


def test_a_key_function_that_hides_the_key_has_no_namespace() -> None:
    hashed = Namespace(lambda key, version: f"h:{hash((key, version))}")
    assert hashed.glob == ""
    assert not hashed.owns("h:1")
    assert hashed.pattern("x*", 1) == f"h:{hash(('x*', 1))}"  # its own output, as before


def test_namespace_follows_a_custom_key_format() -> None:
    namespace = Namespace(lambda key, version: f"CUSTOM-[p]-{version}-{key}")
    assert namespace.glob == "CUSTOM-\\[p\\]-*-*"
    assert namespace.owns("CUSTOM-[p]-2-k") and not namespace.owns("CUSTOM-[p]-v-k")
    assert namespace.strip("CUSTOM-[p]-2-k", 2) == "k"


# -- the store's ownership filter on a shared database ----------------------------------------
def owned_store(db_url: str, prefix: str) -> tuple[RedisStore, Namespace]:
    namespace = Namespace(django_make_key(prefix))
    store = RedisStore(db_url, {}, namespace=namespace.glob)
    store.owns = namespace.owns
    return store, namespace


def seed(db, *prefixes: str) -> None:
    for prefix in prefixes:
        db.mset(dict.fromkeys(store_keys(prefix), b"v"))


@pytest.mark.parametrize(("mine", "theirs"), DIRECTED)
def test_store_clear_keeps_the_other_caches_keys(db, db_url, mine: str, theirs: str) -> None:
    store, _ = owned_store(db_url, mine)
    seed(db, mine, theirs)
    store.clear()
    assert set(db.keys()) == store_keys(theirs)


@pytest.mark.parametrize(("mine", "theirs"), DIRECTED)
def test_store_aclear_keeps_the_other_caches_keys(db, db_url, mine: str, theirs: str) -> None:
    store, _ = owned_store(db_url, mine)
    seed(db, mine, theirs)
    asyncio.run(store.aclear())
    assert set(db.keys()) == store_keys(theirs)


@pytest.mark.parametrize(("mine", "theirs"), DIRECTED)
def test_store_lists_and_deletes_its_own_keys(db, db_url, mine: str, theirs: str) -> None:
    store, namespace = owned_store(db_url, mine)
    seed(db, mine, theirs)
    listed = {namespace.strip(key, 1) for key in store.iter_keys(namespace.pattern("*", 1))}
    assert listed == set(KEYS)
    assert store.delete_matching(namespace.pattern("*", 1)) == len(KEYS)
    assert set(db.keys()) == store_keys(theirs)


def test_an_explicit_filter_narrows_a_listing(db, db_url) -> None:
    store = RedisStore(db_url, {}, namespace="a:*:*")
    seed(db, "a", "a:x")
    owns = Namespace(django_make_key("a")).owns
    assert set(store.iter_keys("a:*", owns=owns)) == {k.decode() for k in store_keys("a")}
    assert store.delete_matching("a:*", owns=owns) == len(KEYS)
    assert set(db.keys()) == store_keys("a:x")


# -- the backend ----------------------------------------------------------------------------
def fill(db_url: str, prefix: str):
    cache = make_cache(db_url, KEY_PREFIX=prefix)
    cache.set_many({key: f"{prefix}/{key}" for key in KEYS})
    return cache


def intact(cache) -> bool:
    return cache.get_many(KEYS) == {key: f"{cache.key_prefix}/{key}" for key in KEYS}


@pytest.mark.parametrize(("mine", "theirs"), directed(BROKEN))
def test_caches_on_one_database_stay_apart(db, db_url, mine: str, theirs: str) -> None:
    ours, other = fill(db_url, mine), fill(db_url, theirs)
    assert sorted(ours.iter_keys("*")) == sorted(KEYS)
    assert ours.delete_pattern("*") == len(KEYS)
    assert intact(other)
    fill(db_url, mine).clear()
    assert intact(other)
    assert set(db.keys()) == store_keys(theirs)


@pytest.mark.parametrize(("mine", "theirs"), directed({("a", "a:x")}))
def test_async_clear_stays_in_its_namespace(db, db_url, mine: str, theirs: str) -> None:
    ours, other = fill(db_url, mine), fill(db_url, theirs)
    asyncio.run(ours.aclear())
    assert intact(other)
    assert set(db.keys()) == store_keys(theirs)


@pytest.mark.parametrize(("mine", "theirs"), directed({("a", "a:x")}))
def test_a_near_cache_clear_stays_in_its_namespace(db, db_url, mine: str, theirs: str) -> None:
    ours = make_cache(db_url, KEY_PREFIX=mine, NEAR_CACHE={})
    other = fill(db_url, theirs)
    ours.set("k", 1)
    ours.clear()
    assert intact(other)
    assert set(db.keys()) == store_keys(theirs)


# -- keys that are not UTF-8 ------------------------------------------------------------------
@pytest.fixture
def with_foreign_bytes(db, db_url):
    """A cache with two values, and a key under its prefix that no str key encodes to."""
    cache = make_cache(db_url, KEY_PREFIX=f"u{os.urandom(3).hex()}")
    cache.set_many({"a": 1, "b": 2})
    foreign = cache.make_key("").encode() + b"\xff"
    db.set(foreign, b"x")
    return cache, foreign


def test_listing_skips_keys_that_are_not_utf8(with_foreign_bytes) -> None:
    cache, _ = with_foreign_bytes
    assert sorted(cache.iter_keys("*")) == ["a", "b"]


def test_delete_pattern_skips_keys_that_are_not_utf8(db, with_foreign_bytes) -> None:
    cache, foreign = with_foreign_bytes
    assert cache.delete_pattern("*") == 2
    assert set(db.keys()) == {foreign}


def test_clear_skips_keys_that_are_not_utf8(db, with_foreign_bytes) -> None:
    cache, foreign = with_foreign_bytes
    cache.clear()
    assert set(db.keys()) == {foreign}


def test_async_clear_skips_keys_that_are_not_utf8(db, with_foreign_bytes) -> None:
    cache, foreign = with_foreign_bytes
    asyncio.run(cache.aclear())
    assert set(db.keys()) == {foreign}


# -- system check E005 --------------------------------------------------------------------------
def redis_cache(location: str = "redis://127.0.0.1:6379/0", **params) -> dict:
    return {"BACKEND": BACKEND, "LOCATION": location, **params}


def e005(**caches: dict) -> list:
    with override_settings(CACHES=caches):
        return [m for m in check_caches() if m.id == "spotify_cache.E005"]


@pytest.mark.parametrize(
    ("first", "second", "collide"),
    [
        ("app", "app", True),
        ("app", "app:1", True),
        ("app", "app:1:x", True),
        ("app", "app:-2", True),
        ("app", "app:_gen", True),
        ("", ":1", True),
        ("app", "app:x", False),
        ("app", "app1", False),
        ("app", "app:1x", False),
        ("app", "ap", False),
        ("", "f", False),
    ],
)
def test_which_prefixes_collide(first: str, second: str, collide: bool) -> None:
    assert prefixes_collide(first, second) is collide
    assert prefixes_collide(second, first) is collide


def test_nested_prefixes_on_one_database_are_refused() -> None:
    [error] = e005(default=redis_cache(KEY_PREFIX="app"), sessions=redis_cache(KEY_PREFIX="app:1"))
    assert "'default'" in error.msg and "'sessions'" in error.msg
    assert "'app'" in error.msg and "'app:1'" in error.msg
    assert "KEY_PREFIX" in error.hint and ":<int>" in error.hint


def test_equal_prefixes_on_one_database_are_refused() -> None:
    assert e005(one=redis_cache(), two=redis_cache("redis://127.0.0.1:6379/0,redis://replica/0"))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379"),
        ("redis://127.0.0.1:6379/3", "redis://127.0.0.1/?db=3"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock?db=0"),
        (["redis://h:6380/1", "redis://replica:6380/1"], "redis://h:6380/1"),
    ],
)
def test_the_same_database_written_differently(first, second) -> None:
    assert e005(one=redis_cache(first, KEY_PREFIX="p"), two=redis_cache(second, KEY_PREFIX="p"))


@pytest.mark.parametrize(
    ("second", "params"),
    [
        ("redis://127.0.0.1:6379/1", {}),  # another database
        ("redis://127.0.0.1:6380/0", {}),  # another server
        ("unix:///run/redis.sock", {}),
        ("memory://", {}),
        ("redis://127.0.0.1:6379/0", {"KEY_PREFIX": "app:x"}),
        ("redis://127.0.0.1:6379/0", {"KEY_FUNCTION": lambda k, p, v: f"other|{p}|{v}|{k}"}),
    ],
)
def test_caches_that_cannot_collide_pass(second: str, params: dict) -> None:
    second_cache = {"KEY_PREFIX": "app", **params}
    assert not e005(one=redis_cache(KEY_PREFIX="app"), two=redis_cache(second, **second_cache))


def test_the_shipped_settings_pass(monkeypatch, redis_url: str) -> None:
    from tests import settings as test_settings

    assert not e005(**test_settings.CACHES)
    monkeypatch.setenv("REDIS_URL", redis_url)
    example = runpy.run_path(str(Path(__file__).parent.parent / "example_project/settings.py"))
    assert example["CACHES"]["default"]["LOCATION"] == redis_url
    assert not e005(**example["CACHES"])
