"""Every stored value is authenticated; with keys it is encrypted; nothing
unauthenticated is ever unpickled.  Run on the memory store and on Redis."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import pytest

from spotify_cache.codecs.framing import FORMAT_VERSION
from spotify_cache.codecs.sealing import generate_key
from spotify_cache.signals import value_rejected
from tests.helpers import Collector, make_cache

K1, K2 = generate_key(), generate_key()
SECRET = "listener-123-secret-payload"


@pytest.fixture(params=["memory", "redis"])
def location(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return f"memory://security-{os.urandom(4).hex()}"
    return request.getfixturevalue("redis_url")


def raw_write(cache, key: str, blob: bytes) -> None:
    cache.store.set(cache.make_key(key), blob, None)


def raw_read(cache, key: str) -> bytes:
    return cache.store.get(cache.make_key(key))


@pytest.mark.parametrize("algorithm", ["aes-gcm", "fernet"])
def test_values_are_ciphertext_at_rest(location: str, algorithm: str) -> None:
    cache = make_cache(location, ENCRYPTION_KEYS=[K1], ALGORITHM=algorithm)
    cache.set("user", {"note": SECRET})
    blob = raw_read(cache, "user")
    assert SECRET.encode() not in blob
    assert b"note" not in blob
    assert cache.get("user") == {"note": SECRET}


def test_without_keys_values_are_still_ciphertext(location: str) -> None:
    """No ENCRYPTION_KEYS: AES-GCM under a key derived from SECRET_KEY."""
    cache = make_cache(location)
    cache.set("user", {"note": SECRET})
    blob = raw_read(cache, "user")
    assert SECRET.encode() not in blob and b"note" not in blob
    assert (blob[1] >> 5) & 0x03 == 2  # the header says aes-gcm
    assert cache.get("user") == {"note": SECRET}


def test_hmac_mode_authenticates_but_does_not_hide(location: str) -> None:
    cache = make_cache(location, ALGORITHM="hmac")
    cache.set("user", SECRET)
    assert SECRET.encode() in raw_read(cache, "user")
    assert cache.get("user") == SECRET


@pytest.mark.parametrize(
    "options", [{}, {"ENCRYPTION_KEYS": [K1]}, {"ENCRYPTION_KEYS": [K1], "ALGORITHM": "fernet"}]
)
def test_foreign_plain_integer_reads_as_miss(location: str, options: dict) -> None:
    cache = make_cache(location, **options)
    raw_write(cache, "counter", b"42")
    with Collector(value_rejected) as seen:
        assert cache.get("counter", "default") == "default"
        assert cache.has_key("counter") is False
        with pytest.raises(ValueError, match="was rejected"):
            cache.incr("counter")
    assert seen.reasons == ["truncated"] * 3  # two bytes cannot even hold a header
    assert cache.rejections["truncated"] >= 3
    raw_write(cache, "counter", b"1234567890")
    assert cache.get("counter", "default") == "default"


@pytest.mark.parametrize(
    "options", [{}, {"ENCRYPTION_KEYS": [K1]}, {"ENCRYPTION_KEYS": [K1], "ALGORITHM": "fernet"}]
)
def test_tampered_value_reads_as_miss(location: str, options: dict) -> None:
    cache = make_cache(location, **options)
    cache.set("k", "value")
    blob = bytearray(raw_read(cache, "k"))
    blob[len(blob) // 2] ^= 0x01
    raw_write(cache, "k", bytes(blob))
    with Collector(value_rejected) as seen:
        assert cache.get("k") is None
    assert seen.reasons == ["auth"]


@pytest.mark.parametrize(
    "options", [{}, {"ENCRYPTION_KEYS": [K1]}, {"ENCRYPTION_KEYS": [K1], "ALGORITHM": "fernet"}]
)
def test_value_swapped_to_another_key_reads_as_miss(location: str, options: dict) -> None:
    cache = make_cache(location, **options)
    cache.set("alice", "alice's data")
    raw_write(cache, "bob", raw_read(cache, "alice"))
    with Collector(value_rejected) as seen:
        assert cache.get("bob") is None
        assert cache.get_many(["alice", "bob"]) == {"alice": "alice's data"}
    assert seen.reasons == ["auth", "auth"]


def test_counter_is_sealed_too(location: str) -> None:
    cache = make_cache(location, ENCRYPTION_KEYS=[K1])
    cache.set("plays", 41)
    assert cache.incr("plays") == 42
    assert b"42" not in raw_read(cache, "plays")[3:]  # not a raw integer INCRBY could touch
    raw_write(cache, "plays", raw_read(cache, "plays")[:-1])
    with pytest.raises(ValueError):
        cache.incr("plays")


def test_truncated_and_unknown_frames(location: str) -> None:
    cache = make_cache(location, ENCRYPTION_KEYS=[K1])
    cache.set("k", "v")
    good = raw_read(cache, "k")
    cases = {
        "truncated": good[:2],
        "version": bytes([FORMAT_VERSION + 1]) + good[1:],
        "key_id": good[:2] + bytes([(good[2] + 1) % 256]) + good[3:],
        "algorithm": good[:1] + bytes([good[1] ^ 0x60]) + good[2:],
    }
    for reason, blob in cases.items():
        raw_write(cache, "k", blob)
        with Collector(value_rejected) as seen:
            assert cache.get("k", "miss") == "miss"
        assert seen.reasons == [reason], reason


def test_a_json_cache_never_unpickles(location: str, tmp_path: Path) -> None:
    """A pickle sealed with the same key by another writer is not loaded by a
    cache configured for JSON: a cache opens only its own serializers."""
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (marker.write_text, ("code ran",))

    prefix = "ser" + os.urandom(3).hex()
    pickler = make_cache(location, KEY_PREFIX=prefix, ENCRYPTION_KEYS=[K1])
    pickler.set("k", Exploit())
    marker.unlink(missing_ok=True)  # pickling it for the write did not run it; be sure
    reader = make_cache(location, KEY_PREFIX=prefix, ENCRYPTION_KEYS=[K1], SERIALIZER="json")
    with Collector(value_rejected) as seen:
        assert reader.get("k") is None
    assert seen.reasons == ["serializer"]
    assert not marker.exists()


def test_nothing_is_unpickled_before_authentication(location: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (marker.write_text, ("code ran",))

    cache = make_cache(location)
    cache.set("k", "v")
    header = raw_read(cache, "k")[:3]  # a valid header: the attacker can read one
    forged = header + pickle.dumps(Exploit()) + b"\x00" * 32
    raw_write(cache, "k", forged)
    assert cache.get("k") is None
    assert not marker.exists()


def test_oversized_values(location: str) -> None:
    cache = make_cache(location, MAX_VALUE_BYTES=1000, COMPRESSOR=None)
    with pytest.raises(ValueError, match="MAX_VALUE_BYTES"):
        cache.set("big", "x" * 2000)
    assert cache.get("big") is None
    big = make_cache(location, COMPRESSOR=None)
    big.set("big", "x" * 5000)
    raw_write(cache, "big", raw_read(big, "big"))
    with Collector(value_rejected) as seen:
        assert cache.get("big") is None
    assert seen.reasons == ["too_large"]


def test_decompression_bomb_is_refused(location: str) -> None:
    writer = make_cache(location, COMPRESS_MIN_BYTES=10)
    writer.set("bomb", b"\x00" * 5_000_000)
    assert len(raw_read(writer, "bomb")) < 10_000
    reader = make_cache(location, MAX_VALUE_BYTES=100_000)
    with Collector(value_rejected) as seen:
        assert reader.get("bomb") is None
    assert seen.reasons == ["too_large"]


def test_key_rotation(location: str) -> None:
    old = make_cache(location, ENCRYPTION_KEYS=[K1])
    old.set("k", "sealed with K1")
    rotating = make_cache(location, ENCRYPTION_KEYS=[K2, K1])
    assert rotating.get("k") == "sealed with K1"
    rotating.set("k2", "sealed with K2")
    assert old.get("k2") is None  # K1 alone cannot open K2's blobs
    retired = make_cache(location, ENCRYPTION_KEYS=[K2])
    assert retired.get("k2") == "sealed with K2"
    assert retired.get("k") is None


@pytest.mark.parametrize("algorithm", ["aes-gcm", "hmac"])
def test_secret_key_fallbacks_rotate_derived_keys(location: str, settings, algorithm: str) -> None:
    settings.SECRET_KEY = "old-secret"
    make_cache(location, ALGORITHM=algorithm).set("k", "under old secret")
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-secret", ["old-secret"]
    assert make_cache(location, ALGORITHM=algorithm).get("k") == "under old secret"
    settings.SECRET_KEY_FALLBACKS = []
    assert make_cache(location, ALGORITHM=algorithm).get("k") is None


def test_colliding_key_ids_neither_stop_start_up_nor_misattribute(location: str) -> None:
    """Ids are one byte: find two keys sharing one (as a SECRET_KEY_FALLBACKS entry
    may), configure both, and read values sealed under each."""
    from spotify_cache.codecs.sealing import decode_key, derive, key_id

    by_id: dict[int, str] = {}
    while True:
        key = generate_key()
        kid = key_id(derive(decode_key(key), "aes-gcm"))
        if kid in by_id:
            first, second = by_id[kid], key
            break
        by_id[kid] = key
    make_cache(location, ENCRYPTION_KEYS=[second]).set("b", "under the second")
    both = make_cache(location, ENCRYPTION_KEYS=[first, second])
    both.set("a", "under the first")
    assert both.get("a") == "under the first"
    assert both.get("b") == "under the second"
    assert make_cache(location, ENCRYPTION_KEYS=[second]).get("a") is None


def test_logs_carry_no_values_or_secrets(location: str, caplog: pytest.LogCaptureFixture) -> None:
    cache = make_cache(location, ENCRYPTION_KEYS=[K1])
    cache.set("k", SECRET)
    blob = bytearray(raw_read(cache, "k"))
    blob[-1] ^= 1
    raw_write(cache, "k", bytes(blob))
    with caplog.at_level(logging.DEBUG):
        cache.get("k")
    text = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert "rejected" in caplog.text
    assert SECRET not in text and K1 not in text


def test_json_and_msgpack_serializers_round_trip(location: str) -> None:
    for name in ("json", "msgpack"):
        cache = make_cache(location, SERIALIZER=name, ENCRYPTION_KEYS=[K1])
        cache.set("k", {"tracks": [1, 2, 3], "name": "ünïcode"})
        assert cache.get("k") == {"tracks": [1, 2, 3], "name": "ünïcode"}


def test_hmac_tag_is_standard_hmac_sha256_over_the_documented_input(settings) -> None:
    """Interop: anyone with the derived key can verify a blob with the stdlib alone."""
    import hashlib
    import hmac

    from spotify_cache.codecs.framing import bind_key
    from spotify_cache.codecs.sealing import derive

    settings.SECRET_KEY = "interop-secret"
    cache = make_cache("memory://interop", ALGORITHM="hmac")
    cache.set("k", "v")
    skey = cache.make_key("k")
    blob = raw_read(cache, "k")
    key = derive(b"interop-secret", "hmac")
    expected = hmac.new(key, bind_key(skey) + blob[:-32], hashlib.sha256).digest()
    assert blob[-32:] == expected


def test_a_junk_blob_counts_as_absent_for_every_operation(location: str) -> None:
    """Over a blob that fails authentication: get_or_set stores its result, add
    takes the key, touch finds nothing, has_key agrees, incr says why it fails."""
    cache = make_cache(location, ENCRYPTION_KEYS=[K1])
    calls: list[int] = []
    for key in ("a", "b", "c"):
        raw_write(cache, key, b"\x01" + os.urandom(60))
    assert cache.get_or_set("a", lambda: calls.append(1) or "loaded", 60) == "loaded"
    assert cache.get_or_set("a", lambda: calls.append(1) or "again", 60) == "loaded"
    assert calls == [1]
    assert cache.add("b", "added") is True and cache.get("b") == "added"
    assert cache.has_key("c") is False
    assert cache.touch("c", 60) is False
    with pytest.raises(ValueError, match="was rejected"):
        cache.incr("c")


def test_the_near_cache_keeps_only_authentic_blobs_and_is_bounded(redis_url: str) -> None:
    """Junk written to keys the app reads is a miss and never held in process;
    authentic values are held within NEAR_CACHE["MAX_BYTES"]."""
    cache = make_cache(
        redis_url,
        KEY_PREFIX="nearjunk" + os.urandom(3).hex(),
        NEAR_CACHE={"MAX_ENTRIES": 100, "MAX_BYTES": 300_000},
    )
    cache.store.tracker.wait_ready(5)
    junk = b"\x01" + os.urandom(1_000_000)
    for i in range(8):
        raw_write(cache, f"junk{i}", junk)
        for _ in range(3):
            assert cache.get(f"junk{i}") is None
    assert cache.store.local.bytes_used == 0
    for i in range(20):
        cache.set(f"v{i}", os.urandom(50_000))
        for _ in range(3):
            cache.get(f"v{i}")
    assert 0 < cache.store.local.bytes_used <= 300_000
    cache.clear()


def test_a_blob_put_back_after_it_expired_reads_as_a_miss(redis_url: str) -> None:
    """The expiry is sealed with the value on Redis: re-inserting an old blob
    without its TTL, after it expired, brings nothing back, and ttl() agrees."""
    import time

    cache = make_cache(redis_url, KEY_PREFIX="exp" + os.urandom(3).hex())
    cache.set("k", "short-lived", 0.3)
    blob = raw_read(cache, "k")
    raw_write(cache, "k", blob)  # put back at once without a TTL: still valid, for 0.3 s
    assert cache.get("k") == "short-lived"
    assert 0 < cache.ttl("k") <= 0.3  # the sealed expiry, not "never"
    time.sleep(0.35)
    raw_write(cache, "k", blob)  # put back after it expired
    assert cache.get("k") is None
    assert cache.has_key("k") is False
    assert cache.ttl("k") == 0
    assert not cache.rejections  # a miss, not an attack worth a warning per read


def test_touch_reseals_the_expiry(redis_url: str) -> None:
    import time

    cache = make_cache(redis_url, KEY_PREFIX="exp" + os.urandom(3).hex())
    cache.set("k", "v", 0.2)
    assert cache.touch("k", 60)
    time.sleep(0.3)
    assert cache.get("k") == "v"
    assert 55 < cache.ttl("k") <= 60
    assert cache.persist("k") and cache.ttl("k") is None
    cache.set("n", 10, 60)
    assert cache.incr("n", 5) == 15 and 55 < cache.ttl("n") <= 60


def test_a_blob_copied_to_another_database_reads_as_a_miss(redis_url: str) -> None:
    import redis as redis_py

    base = redis_url.rsplit("/", 1)[0]
    prefix = "db" + os.urandom(3).hex()
    first = make_cache(f"{base}/0", KEY_PREFIX=prefix, ENCRYPTION_KEYS=[K1])
    second = make_cache(f"{base}/3", KEY_PREFIX=prefix, ENCRYPTION_KEYS=[K1])
    first.set("k", "lives in db 0", None)
    blob = redis_py.Redis.from_url(f"{base}/0").get(first.make_key("k"))
    redis_py.Redis.from_url(f"{base}/3").set(second.make_key("k"), blob)
    with Collector(value_rejected) as seen:
        assert second.get("k") is None
    assert seen.reasons == ["auth"]
    assert first.get("k") == "lives in db 0"
    first.clear()
    second.clear()
