"""Fuzzing ``ValueCodec.decode``: whatever the bytes, it returns a value sealed for
that key or raises ``InvalidValue``, nothing else.

Inputs: random bytes, mutations of valid blobs (bit flips, truncation, splices,
header edits, blobs of other keys), and blobs sealed *authentically* around a
mutated stamp (what a buggy or older writer holding the key could store).  The
codecs are the ones ``OPTIONS`` build, with a real ``MemoryVersions`` table
for the stamps; nothing is mocked.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotify_cache import options as config
from spotify_cache.codecs import ValueCodec, stamps
from spotify_cache.codecs.sealing import generate_key
from spotify_cache.exceptions import InvalidValue
from spotify_cache.stores.versions import MemoryVersions

K1, K2 = generate_key(), generate_key()
KEY, OTHER_KEY = "t:1:user:42", "t:1:user:43"
VALUES: list[Any] = [0, 41, "listener", {"tracks": [1, 2, 3]}, "x" * 3000, b"\x00" * 200]
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Setup:
    """One codec configuration, its version table and a corpus of valid blobs."""

    def __init__(self, algorithm: str, serializer: str = "pickle", expiry: bool = True) -> None:
        options = {"ENCRYPTION_KEYS": [K1], "ALGORITHM": algorithm, "SERIALIZER": serializer}
        self.versions = MemoryVersions()
        base = config.codec({**options, "COMPRESS_MIN_BYTES": 64})
        base.stamp_valid = self.versions.valid_stamp
        base.seal_expiry = expiry
        base.context = b"redis-db=0\x00" if expiry else b""
        self.plain: ValueCodec = base
        self.partitioned: ValueCodec = base.derive(required="p:listeners")
        self.foreign = config.codec({**options, "ENCRYPTION_KEYS": [K2]})
        names = ["p:listeners", "t:artist:7"]
        self.stamp = stamps.pack(names, self.versions.acquire(names, None))
        self.corpus = self._corpus(serializer)

    def _corpus(self, serializer: str) -> list[tuple[ValueCodec, Any, bytes]]:
        values = (
            VALUES if serializer == "pickle" else [v for v in VALUES if not isinstance(v, bytes)]
        )
        corpus = []
        for value in values:
            corpus.append((self.plain, value, self.plain.encode(KEY, value, expires_in=60)))
            corpus.append((self.plain, value, self.plain.encode(KEY, value, unique=True)))
            blob = self.partitioned.encode(KEY, value, self.stamp, expires_in=60)
            corpus.append((self.partitioned, value, blob))
        return corpus

    def codecs(self) -> list[ValueCodec]:
        return [self.plain, self.partitioned]


SETUPS = {
    "aes-gcm": Setup("aes-gcm"),
    "hmac": Setup("hmac"),
    "fernet": Setup("fernet"),
    "json": Setup("aes-gcm", "json"),
    "memory": Setup("aes-gcm", expiry=False),
}
ANY_SETUP = st.sampled_from(sorted(SETUPS))


def outcome(codec: ValueCodec, blob: bytes, key: str = KEY) -> Any:
    """What ``decode`` gives: the value, or ``InvalidValue``; anything else fails the test."""
    try:
        return codec.decode(key, blob)
    except InvalidValue as exc:
        return exc
    except Exception as exc:  # the property under test: nothing but InvalidValue escapes
        pytest.fail(f"decode raised {type(exc).__name__}: {exc!r} for blob {blob[:80]!r}")


def assert_only(codec: ValueCodec, blob: bytes, allowed: list[Any], key: str = KEY) -> None:
    """``decode`` refuses ``blob`` or returns one of ``allowed`` (the values sealed for ``key``)."""
    got = outcome(codec, blob, key)
    if not isinstance(got, InvalidValue):
        assert any(got == v and type(got) is type(v) for v in allowed), (got, blob[:60])


# -- random bytes --------------------------------------------------------------------
@FUZZ
@given(name=ANY_SETUP, blob=st.binary(max_size=400))
def test_random_bytes_are_refused(name: str, blob: bytes) -> None:
    for codec in SETUPS[name].codecs():
        assert isinstance(outcome(codec, blob), InvalidValue)


@FUZZ
@given(name=ANY_SETUP, tail=st.binary(max_size=400), flags=st.integers(0, 255), kid=st.booleans())
def test_random_bodies_behind_a_valid_header_are_refused(
    name: str, tail: bytes, flags: int, kid: bool
) -> None:
    """The header is public: an attacker can copy it and choose the flags."""
    setup = SETUPS[name]
    _, _, good = setup.corpus[0]
    header = bytes((good[0], flags, good[2] if kid else (good[2] + 1) % 256))
    for codec in setup.codecs():
        assert isinstance(outcome(codec, header + tail), InvalidValue)


# -- mutations of valid blobs --------------------------------------------------------
def mutate(rng: random.Random, blob: bytes, others: list[bytes]) -> bytes:
    """One random edit of ``blob``: what an attacker with write access can do to it."""
    data = bytearray(blob)
    kind = rng.randrange(8)
    if kind == 0:  # flip bits
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data) * 8)
            data[at // 8] ^= 1 << (at % 8)
    elif kind == 1:  # truncate
        del data[rng.randrange(len(data)) :]
    elif kind == 2:  # extend
        data += rng.randbytes(rng.randint(1, 64))
    elif kind == 3:  # edit one header byte
        data[rng.randrange(3)] = rng.randrange(256)
    elif kind == 4:  # splice in a piece of another valid blob
        other = rng.choice(others)
        at = rng.randrange(len(data))
        data[at : at + rng.randint(1, 40)] = other[at : at + rng.randint(1, 40)]
    elif kind == 5:  # overwrite a run with random bytes
        at = rng.randrange(len(data))
        data[at : at + rng.randint(1, 16)] = rng.randbytes(rng.randint(1, 16))
    elif kind == 6:  # drop a byte in the middle (shifts nonce, stamp and payload)
        del data[rng.randrange(len(data))]
    else:  # another blob's header on this body
        data[:3] = rng.choice(others)[:3]
    return bytes(data)


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_thousands_of_mutated_blobs_are_refused_or_unchanged(name: str) -> None:
    """Seeded: 4000 mutations per configuration, each decoded by every codec."""
    setup = SETUPS[name]
    rng = random.Random(f"decoder-fuzz-{name}")
    blobs = [blob for _, _, blob in setup.corpus]
    for _ in range(4000):
        _, _, blob = rng.choice(setup.corpus)
        mutated = mutate(rng, blob, blobs)
        allowed = [v for _, v, b in setup.corpus if b == mutated]  # a no-op edit, or a copy
        for codec in setup.codecs():
            assert_only(codec, mutated, allowed)


@FUZZ
@given(name=ANY_SETUP, index=st.integers(0, 100), data=st.data())
def test_hypothesis_mutations_are_refused(name: str, index: int, data: st.DataObject) -> None:
    setup = SETUPS[name]
    codec, value, blob = setup.corpus[index % len(setup.corpus)]
    at = data.draw(st.integers(0, len(blob) - 1))
    replacement = data.draw(st.binary(min_size=0, max_size=8))
    mutated = blob[:at] + replacement + blob[at + data.draw(st.integers(0, 8)) :]
    assert_only(codec, mutated, [value] if mutated == blob else [])


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_valid_blobs_of_other_keys_and_keys_are_refused(name: str) -> None:
    setup = SETUPS[name]
    for codec, value, blob in setup.corpus:
        assert_only(codec, blob, [value])  # the control: it does open where it belongs
        assert isinstance(outcome(codec, blob, OTHER_KEY), InvalidValue)
        foreign = setup.foreign.encode(KEY, value, expires_in=60)
        assert isinstance(outcome(codec, foreign), InvalidValue)


# -- authentic blobs around a mutated stamp -------------------------------------------
def stamp_variants(setup: Setup) -> list[bytes]:
    meta = stamps.Meta(time.time() + 60, 0.01, True)
    past = stamps.Meta(time.time() - 1, 0.01, True)
    unique = stamps.with_nonce(setup.stamp)
    return [
        setup.stamp,
        stamps.with_meta(setup.stamp, meta),
        stamps.with_meta(setup.stamp, past),
        stamps.with_meta(b"", meta),
        unique,
        stamps.with_meta(unique, meta),
    ]


@FUZZ
@given(
    name=ANY_SETUP,
    which=st.integers(0, 5),
    edits=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.integers(-6, 6),
)
def test_authentic_blobs_with_mutated_stamps_never_raise_anything_else(
    name: str, which: int, edits: list[tuple[int, int]], cut: int
) -> None:
    """A key holder (a buggy or older writer) sealed a malformed stamp: ``InvalidValue``
    or a value, never a stray exception.  (Which value is not constrained: every
    byte was sealed by the key holder, and a wrong stamp length moves the point
    where the payload starts.)"""
    setup = SETUPS[name]
    stamp = bytearray(stamp_variants(setup)[which])
    for at, byte in edits:
        stamp[at % len(stamp)] = byte
    stamp = stamp[: len(stamp) + cut] if cut < 0 else stamp + bytes(cut)
    for codec in setup.codecs():
        outcome(codec, codec.encode(KEY, "the value", bytes(stamp)))


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_thousands_of_mutated_stamps_never_raise_anything_else(name: str) -> None:
    setup = SETUPS[name]
    rng = random.Random(f"stamp-fuzz-{name}")
    variants = stamp_variants(setup)
    for _ in range(3000):
        stamp = mutate(rng, rng.choice(variants), variants)
        for codec in setup.codecs():
            outcome(codec, codec.encode(KEY, 41, stamp))


def test_a_stale_or_expired_stamp_reads_as_a_miss() -> None:
    """The control for the stamp fuzz: valid stamps open, invalidated or expired ones do not."""
    setup = Setup("aes-gcm")  # its own version table: this test drops a record
    codec = setup.partitioned
    live, _, expired, *_ = stamp_variants(setup)
    assert outcome(codec, codec.encode(KEY, 1, live)) == 1
    assert isinstance(outcome(codec, codec.encode(KEY, 1, expired)), InvalidValue)
    setup.versions.drop(["t:artist:7"])
    assert isinstance(outcome(codec, codec.encode(KEY, 1, live)), InvalidValue)
    setup.versions.acquire(["t:artist:7"], None)  # a new token: the old stamp stays stale
    assert isinstance(outcome(codec, codec.encode(KEY, 1, live)), InvalidValue)


# -- what the fuzz found, pinned -------------------------------------------------------
def test_a_fernet_token_padded_or_respelled_is_refused() -> None:
    """Fernet decodes base64 leniently: before the token had to be the one encoding
    ``encrypt`` makes, a blob padded with junk (or with its spare bits changed)
    still opened, so a blob's bytes were not fixed by its value."""
    codec = SETUPS["fernet"].plain
    blob = codec.encode(KEY, "v", expires_in=60)
    assert outcome(codec, blob) == "v"
    padded = [blob[:3] + b"\x00" * 1000 + blob[3:], blob + b"!!", blob[:10] + b"\n" + blob[10:]]
    for junk in padded:
        assert isinstance(outcome(codec, junk), InvalidValue), junk[:20]
    body = blob[3:].rstrip(b"=")
    last = body[-1:]
    for other in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_":
        respelled = blob[:3] + body[:-1] + bytes((other,)) + blob[3 + len(body) :]
        if bytes((other,)) != last:
            assert isinstance(outcome(codec, respelled), InvalidValue)


def test_a_stamp_naming_a_record_in_invalid_utf8_is_refused() -> None:
    """Sealed by a key holder, a stamp whose record name is not UTF-8 raised
    ``UnicodeDecodeError`` out of ``decode``; it is ``InvalidValue("stamp")``."""
    codec = SETUPS["aes-gcm"].plain
    body = bytes((2,)) + b"\xff\xfe" + bytes(stamps.TOKEN_BYTES)
    blob = codec.encode(KEY, "v", len(body).to_bytes(2, "big") + body)
    got = outcome(codec, blob)
    assert isinstance(got, InvalidValue) and got.reason == "stamp"
