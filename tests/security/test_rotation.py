"""Key rotation: ``manage.py rotatecachekeys`` reports which keys seal the values,
each run is audited, and rotating under load ([K1] -> [K2, K1] -> [K2]) raises
nothing: old values open while their key is configured and are misses after."""

from __future__ import annotations

import contextlib
import io
import os
import random
import threading
import time
from collections import Counter
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from spotify_cache.codecs.sealing import decode_key, derive, generate_key, key_id
from spotify_cache.security import rotation
from tests.helpers import make_cache
from tests.security.conftest import entries

K1, K2 = generate_key(), generate_key()
BACKEND = "spotify_cache.backend.SpotifyCache"
THREADS = 8
SEEDS = [f"seed:{i}" for i in range(40)]


def kid(key: str, algorithm: str = "aes-gcm") -> int:
    return key_id(derive(decode_key(key), algorithm))


@pytest.fixture(params=["memory", "redis"])
def location(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return f"memory://rotation-{os.urandom(3).hex()}"
    return request.getfixturevalue("redis_url")


def configure(settings: Any, location: str, prefix: str, keys: list[str], **extra: Any) -> None:
    settings.CACHES = {
        **settings.CACHES,
        "rotating": {
            "BACKEND": BACKEND,
            "LOCATION": location,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"ENCRYPTION_KEYS": keys, **extra},
        },
    }


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("rotatecachekeys", *args, stdout=out)
    return out.getvalue()


def usage_of(location: str, prefix: str, keys: list[str]) -> rotation.KeyUsage:
    cache = make_cache(location, KEY_PREFIX=prefix, ENCRYPTION_KEYS=keys)
    return rotation.key_usage(cache, {"ENCRYPTION_KEYS": keys}, "rotating", 100_000)


# -- the command ------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_command_reports_and_audits_each_step(settings, location: str) -> None:
    from django.core.cache import caches

    prefix = "rot" + os.urandom(3).hex()
    configure(settings, location, prefix, [K1])
    caches["rotating"].set_many({f"k{i}": i for i in range(30)}, None)
    caches["rotating"].invalidate("k0")  # a marker: not a sealed value
    first = run("--cache", "rotating")
    assert f"{kid(K1)}" in first and "current" in first and "ENCRYPTION_KEYS[0]" in first
    assert "one key: nothing to rotate" in first

    configure(settings, location, prefix, [K2, K1])  # step 1: the new key first
    caches["rotating"].set_many({f"n{i}": i for i in range(10)}, None)
    second = run("--cache", "rotating")
    assert "old (still needed)" in second and "rotating: keep the old keys" in second

    configure(settings, location, prefix, [K2])  # step 3: the old key dropped
    third = run("--cache", "rotating", "--sample", "5")
    assert "unknown (dropped key)" in third or "the first of more" in third
    full = run("--cache", "rotating")
    assert "unknown (dropped key)" in full and "dropped keys remain" in full
    assert caches["rotating"].get("k5") is None  # a miss, never an exception

    rows = [e for e in entries() if e.action == "rotate_keys"]
    assert len(rows) == 4
    assert all(r.alias == "rotating" and r.outcome == "ok" for r in rows)
    assert rows[1].details["in_use"] == {str(kid(K1)): 29, str(kid(K2)): 10}
    assert rows[1].details["keys"] == [
        {"setting": "ENCRYPTION_KEYS[0]", "key_id": kid(K2)},
        {"setting": "ENCRYPTION_KEYS[1]", "key_id": kid(K1)},
    ]
    assert rows[3].details["stage"].startswith("values sealed with dropped keys")
    text = str([r.details for r in rows]) + first + second + full
    assert K1 not in text and K2 not in text  # ids and counts only, never a key
    caches["rotating"].clear()


@pytest.mark.django_db
def test_derived_keys_are_named_after_the_secret_they_come_from(settings) -> None:
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-secret", ["old-secret"]
    settings.CACHES = {
        **settings.CACHES,
        "rotating": {"BACKEND": BACKEND, "LOCATION": f"memory://d-{os.urandom(3).hex()}"},
    }
    out = run("--cache", "rotating")
    assert "SECRET_KEY" in out and "SECRET_KEY_FALLBACKS[0]" in out
    assert "old (no values seen)" in out


@pytest.mark.django_db
def test_the_command_refuses_what_it_cannot_report_on(settings) -> None:
    settings.CACHES = {
        **settings.CACHES,
        "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    with pytest.raises(CommandError, match="is not a"):
        run("--cache", "locmem")
    with pytest.raises(CommandError, match="is not a"):
        run("--cache", "missing")
    with pytest.raises(CommandError, match="--sample"):
        run("--sample", "0")


def test_colliding_ids_name_both_settings(location: str) -> None:
    by_id: dict[int, str] = {}
    while True:
        key = generate_key()
        if kid(key) in by_id:
            first, second = by_id[kid(key)], key
            break
        by_id[kid(key)] = key
    usage = usage_of(location, "col" + os.urandom(3).hex(), [first, second])
    assert usage.names(kid(first)) == ["ENCRYPTION_KEYS[0]", "ENCRYPTION_KEYS[1]"]
    assert usage.status(kid(first)) == rotation.CURRENT


# -- under load -----------------------------------------------------------------------
class Load:
    """``THREADS`` threads reading and writing while ``phase`` moves through the key
    lists; each thread builds its cache again when it sees the phase change (a
    rolling deploy: for a moment some threads run the old settings)."""

    def __init__(self, location: str, prefix: str, phases: list[list[str]]) -> None:
        self.location, self.prefix, self.phases = location, prefix, phases
        self.phase = 0
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.seed_reads: Counter[tuple[int, str]] = Counter()
        self.ops = Counter[str]()
        self.lock = threading.Lock()

    def cache(self, phase: int) -> Any:
        return make_cache(self.location, KEY_PREFIX=self.prefix, ENCRYPTION_KEYS=self.phases[phase])

    def worker(self, n: int) -> None:
        rng, seen, cache = random.Random(n), -1, None
        try:
            while not self.stop.is_set():
                phase = self.phase
                if phase != seen:
                    cache, seen = self.cache(phase), phase
                self.step(cache, phase, n, rng)
        except BaseException as exc:  # the property: nothing raises
            self.errors.append(exc)

    def step(self, cache: Any, phase: int, n: int, rng: random.Random) -> None:
        key = f"t{n}:{rng.randrange(20)}"
        op = rng.choice(["set", "get", "get_or_set", "incr", "add", "delete", "seed", "many"])
        if op == "set":
            cache.set(key, rng.randrange(1000), 60)
        elif op == "get":
            assert cache.get(key) in (None, *range(10_000))
        elif op == "get_or_set":
            assert isinstance(cache.get_or_set(key, 1, 60), int)
        elif op == "incr":
            with contextlib.suppress(ValueError):  # absent, or sealed under another key
                cache.incr(key)
        elif op == "add":
            cache.add(key, 7, 60)
        elif op == "delete":
            cache.delete(key)
        elif op == "seed":
            seed = rng.choice(SEEDS)
            got = cache.get(seed)
            assert got in (None, f"value of {seed}")
            with self.lock:
                self.seed_reads[(phase, "hit" if got else "miss")] += 1
        else:
            cache.get_many([f"t{n}:{i}" for i in range(5)] + SEEDS[:3])
        with self.lock:
            self.ops[op] += 1


def test_rotation_under_load(location: str) -> None:
    prefix = "load" + os.urandom(3).hex()
    load = Load(location, prefix, [[K1], [K2, K1], [K2]])
    load.cache(0).set_many({s: f"value of {s}" for s in SEEDS}, 600)
    threads = [threading.Thread(target=load.worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    reports = []
    for phase in range(3):
        load.phase = phase
        time.sleep(0.6)
        reports.append(usage_of(location, prefix, load.phases[phase]))
    load.stop.set()
    for thread in threads:
        thread.join(10)
    assert not load.errors, load.errors[:3]
    assert sum(load.ops.values()) > 1000
    # The old key opens its values while it is configured, and only then.
    assert load.seed_reads[(0, "hit")] > 0 and load.seed_reads[(1, "hit")] > 0
    assert load.seed_reads[(2, "hit")] == 0 and load.seed_reads[(2, "miss")] > 0
    for phase in (0, 1):
        cache = load.cache(phase)
        assert cache.get_many(SEEDS) == {s: f"value of {s}" for s in SEEDS}
    assert load.cache(2).get_many(SEEDS) == {}
    # What the command would have shown at each step.
    assert reports[0].status(kid(K1)) == rotation.CURRENT
    assert reports[1].status(kid(K1)) == rotation.OLD and reports[1].ids[kid(K2)] > 0
    assert reports[2].status(kid(K1)) == rotation.UNKNOWN
    assert reports[2].ids[kid(K1)] >= len(SEEDS)
    load.cache(2).clear()


@pytest.mark.django_db
def test_as_user_needs_the_rotatekeys_permission(settings) -> None:
    from django.contrib.auth import get_user_model

    configure(settings, f"memory://perm-{os.urandom(3).hex()}", "perm", [K1])
    users = get_user_model()._default_manager
    users.create_user("intern", password="x")
    users.create_superuser("admin", password="x", email="a@example.com")
    with pytest.raises(CommandError, match="permission denied"):
        run("--cache", "rotating", "--as-user", "intern")
    with pytest.raises(CommandError, match="unknown user"):
        run("--cache", "rotating", "--as-user", "nobody")
    assert "current" in run("--cache", "rotating", "--as-user", "admin")
    denied, report = [e for e in entries() if e.action in ("permission_denied", "rotate_keys")]
    assert denied.action == "permission_denied" and denied.actor_label == "intern"
    assert report.action == "rotate_keys" and report.actor_label == "admin"
