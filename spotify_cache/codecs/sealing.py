"""Sealing: every stored blob is authenticated; with keys it is also encrypted.

Three algorithms, one key format (url-safe base64 of 32 random bytes, what
``Fernet.generate_key()`` prints):

* ``hmac``    HMAC-SHA256 over header, store key and payload (no confidentiality):
              an explicit opt-in.
* ``aes-gcm`` AES-256-GCM, random 96-bit nonce, header and store key as
              associated data: the default, with or without keys.
* ``fernet``  Fernet tokens (AES-128-CBC + HMAC-SHA256); the store key travels
              inside the plaintext and is compared after decryption, since
              Fernet has no associated data.

Without ``ENCRYPTION_KEYS`` the keys are derived from ``SECRET_KEY`` and
``SECRET_KEY_FALLBACKS`` (HKDF), so every value is encrypted whatever the
settings.  Each key gets a one-byte id derived from its material, recorded in
the header: the first key seals, every key opens (keys sharing an id are
tried in turn), so keys rotate by putting a new key first and dropping the
old one after the longest TTL.  Every failure
is the same opaque ``InvalidValue("auth")``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..exceptions import InvalidValue
from .framing import HEADER_SIZE

KEY_BYTES = 32
NONCE_BYTES = 12
MAC_BYTES = 32
_COPY_LIMIT = 4096
_FERNET_TOKEN = re.compile(rb"[A-Za-z0-9_-]*={0,2}")


def generate_key() -> str:
    """A new key in the ``ENCRYPTION_KEYS`` format."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def decode_key(text: str) -> bytes:
    """The 32 raw bytes of a configured key; ``ValueError`` (never echoing it) otherwise.
    Strict: a string of url-safe base64 and nothing else (the lenient decoder
    would skip stray characters, so a mangled key could still be accepted)."""
    if not isinstance(text, str):
        raise ValueError(f"must be a string (url-safe base64), not {type(text).__name__}")
    try:
        raw = base64.b64decode(text.strip().encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ValueError("is not url-safe base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"decodes to {len(raw)} bytes, expected {KEY_BYTES}")
    return raw


def derive(material: bytes, purpose: str) -> bytes:
    """A 32-byte subkey of ``material`` for one purpose (HKDF-SHA256)."""
    info = f"spotify_cache/{purpose}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(material)


def key_id(subkey: bytes) -> int:
    """The one-byte id of a subkey, as written in the header."""
    return hashlib.sha256(b"spotify_cache/key-id" + subkey).digest()[0]


class Sealer:
    """Base class: ``seal`` appends the body after a header; ``open`` returns the payload."""

    algorithm = 0
    name = "base"
    #: Whether sealing the same input twice gives the same blob (no nonce).
    deterministic = False

    def __init__(self, subkeys: Sequence[bytes]) -> None:
        if not subkeys:
            raise ValueError("needs at least one key")
        subkeys = list(dict.fromkeys(subkeys))  # the same secret twice is one key
        self.key_id = key_id(subkeys[0])
        # Ids are one byte: two keys may share one (0.4% per rotation with two keys).
        # Then each is tried in turn; a blob is never attributed to the wrong key.
        self._by_id: dict[int, Any] = {}
        self._alternates: dict[int, list[Any]] = {}
        for subkey in subkeys:
            kid, prepared = key_id(subkey), self._prepare(subkey)
            if kid in self._by_id:
                self._alternates.setdefault(kid, []).append(prepared)
            else:
                self._by_id[kid] = prepared
        self._sealing: Any = self._by_id[self.key_id]

    def _prepare(self, subkey: bytes) -> object:
        return subkey

    def sealed_size_limit(self, payload_limit: int) -> int:
        """The largest blob a payload of ``payload_limit`` bytes can seal into."""
        return payload_limit + 256  # header, nonce, tag

    @property
    def key_ids(self) -> frozenset[int]:
        """Ids of every key that can open a blob."""
        return frozenset(self._by_id)

    def knows(self, kid: int) -> bool:
        return kid in self._by_id

    def seal(self, header: bytes, bound_key: bytes, payload: bytes) -> bytes:
        raise NotImplementedError

    def open(self, blob: bytes, kid: int, bound_key: bytes) -> bytes:
        """The authenticated payload of ``blob``; ``InvalidValue`` otherwise."""
        try:
            return self._open_one(self._by_id[kid], blob, bound_key)
        except InvalidValue:
            for prepared in self._alternates.get(kid, ()):
                try:
                    return self._open_one(prepared, blob, bound_key)
                except InvalidValue:
                    continue
            raise

    def _open_one(self, prepared: Any, blob: bytes, bound_key: bytes) -> bytes:
        raise NotImplementedError


def _hmac_states(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's two padded-key hash states (RFC 2104), computed once per key:
    each message then costs two hash copies instead of a full HMAC set-up."""
    block = key.ljust(64, b"\0")  # subkeys are 32 bytes: never longer than a block
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    return inner, outer


def _hmac(states: tuple[Any, Any], bound_key: bytes, body: bytes | memoryview) -> bytes:
    inner, outer = states[0].copy(), states[1].copy()
    if len(body) < _COPY_LIMIT:  # one update on a joined copy is faster for small bodies
        inner.update(bound_key + body)
    else:
        inner.update(bound_key)
        inner.update(body)
    outer.update(inner.digest())
    return outer.digest()


class HmacSealer(Sealer):
    """MAC input: store key, then header and payload (``bound_key + blob[:-32]``)."""

    algorithm = 1
    name = "hmac"
    deterministic = True

    def _prepare(self, subkey: bytes) -> tuple[Any, Any]:
        return _hmac_states(subkey)

    def seal(self, header: bytes, bound_key: bytes, payload: bytes) -> bytes:
        if len(payload) < _COPY_LIMIT:
            body = header + payload
            return body + _hmac(self._sealing, bound_key + header, payload)
        # Large payloads: hash the parts in place and copy the payload only once.
        return b"".join((header, payload, _hmac(self._sealing, bound_key + header, payload)))

    def _open_one(self, prepared: Any, blob: bytes, bound_key: bytes) -> bytes:
        if len(blob) < HEADER_SIZE + MAC_BYTES:
            raise InvalidValue("truncated")
        if len(blob) < _COPY_LIMIT:  # _hmac, inlined for the common small blob
            inner, outer = prepared
            inner, outer = inner.copy(), outer.copy()
            inner.update(bound_key + blob[:-MAC_BYTES])
            outer.update(inner.digest())
            expected = outer.digest()
        else:
            expected = _hmac(prepared, bound_key, memoryview(blob)[:-MAC_BYTES])
        if not hmac.compare_digest(expected, blob[-MAC_BYTES:]):
            raise InvalidValue("auth")
        return blob[HEADER_SIZE:-MAC_BYTES]


class AesGcmSealer(Sealer):
    algorithm = 2
    name = "aes-gcm"

    def _prepare(self, subkey: bytes) -> AESGCM:
        return AESGCM(subkey)

    def seal(self, header: bytes, bound_key: bytes, payload: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._sealing.encrypt(nonce, payload, header + bound_key)
        return b"".join((header, nonce, sealed))

    def _open_one(self, prepared: Any, blob: bytes, bound_key: bytes) -> bytes:
        if len(blob) < HEADER_SIZE + NONCE_BYTES + 16:
            raise InvalidValue("truncated")
        nonce = blob[HEADER_SIZE : HEADER_SIZE + NONCE_BYTES]
        aead: AESGCM = prepared
        try:
            return aead.decrypt(
                nonce, blob[HEADER_SIZE + NONCE_BYTES :], blob[:HEADER_SIZE] + bound_key
            )
        except InvalidTag:
            raise InvalidValue("auth") from None


class FernetSealer(Sealer):
    algorithm = 3
    name = "fernet"

    def sealed_size_limit(self, payload_limit: int) -> int:
        # The token is base64 of (version, time, IV, padded plaintext with the key, MAC).
        return (payload_limit + 4096) * 4 // 3 + 256

    def _prepare(self, subkey: bytes) -> Fernet:
        return Fernet(base64.urlsafe_b64encode(subkey))

    def seal(self, header: bytes, bound_key: bytes, payload: bytes) -> bytes:
        token = self._sealing.encrypt(header + bound_key + payload)
        return header + token

    def _open_one(self, prepared: Any, blob: bytes, bound_key: bytes) -> bytes:
        if not _canonical_token(blob):
            raise InvalidValue("auth")
        try:
            plain = prepared.decrypt(blob[HEADER_SIZE:])
        except InvalidToken:
            raise InvalidValue("auth") from None
        prefix = blob[:HEADER_SIZE] + bound_key
        if not hmac.compare_digest(plain[: len(prefix)], prefix):
            raise InvalidValue("auth")
        return plain[len(prefix) :]


def _canonical_token(blob: bytes) -> bool:
    """Whether the token after the header is the one encoding ``encrypt`` makes.
    Fernet decodes base64 leniently (stray bytes skipped, spare bits ignored), so
    without this a blob could be padded with junk, or respelled, and still open."""
    size = len(blob) - HEADER_SIZE
    if size % 4 or _FERNET_TOKEN.fullmatch(blob, HEADER_SIZE) is None:
        return False
    tail = blob[-4:] if size else b""
    return base64.urlsafe_b64encode(base64.urlsafe_b64decode(tail)) == tail


ALGORITHMS: dict[str, type[Sealer]] = {
    "hmac": HmacSealer,
    "aes-gcm": AesGcmSealer,
    "fernet": FernetSealer,
}


def build_sealer(algorithm: str, keys: Iterable[str], secrets: Iterable[str]) -> Sealer:
    """The sealer for ``algorithm``: from ``keys`` when given, else from the
    Django ``secrets`` (``SECRET_KEY`` then its fallbacks), through HKDF with
    this package's own info strings (nothing else derives the same subkeys)."""
    cls = ALGORITHMS[algorithm]
    materials = [decode_key(k) for k in keys]
    if not materials:
        materials = [s.encode() for s in secrets if s]
        if not materials:
            raise ValueError("needs ENCRYPTION_KEYS or a SECRET_KEY")
    return cls([derive(m, cls.name) for m in materials])
