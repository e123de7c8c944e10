"""Stamps: the version tokens a value was written under, sealed with it.

A value in a partition, or written with tags, carries the token of each
version record it depends on (``p:<partition>``, ``t:<tag>``).  Invalidating
a partition or a tag deletes its record; a value whose stamp names a token
that is no longer current (changed, deleted, evicted, flushed) reads as a
miss.  The stamp sits inside the sealed plaintext, so it is authenticated
with the value and cannot be edited by whoever can write to the store.

::

    u16   length of what follows
    then, per record:  u8 name length, name (UTF-8), token (TOKEN_BYTES)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from ..exceptions import InvalidValue

TOKEN_BYTES = 8
MAX_NAME_BYTES = 255


def record_head(name: str) -> bytes:
    """How a stamp body starts when its first record is ``name``."""
    raw = name.encode()
    return bytes((len(raw),)) + raw


def pack(names: Sequence[str], tokens: Sequence[bytes]) -> bytes:
    """The stamp for ``names`` written under ``tokens``."""
    parts = []
    for name, token in zip(names, tokens, strict=True):
        raw = name.encode()
        if len(raw) > MAX_NAME_BYTES:
            raise ValueError(f"tag or partition name longer than {MAX_NAME_BYTES} bytes: {name!r}")
        parts.append(bytes((len(raw),)) + raw + token)
    body = b"".join(parts)
    return len(body).to_bytes(2, "big") + body


#: The name of the record that makes a blob unique (a random token, no version):
#: ``add`` and ``incr`` blobs carry one under a deterministic sealer (HMAC), so a
#: retried write can recognise its own blob.  No version record has an empty name.
NONCE = ""


def with_nonce(stamp: bytes) -> bytes:
    """``stamp`` (possibly empty) with a fresh nonce record instead of any old one."""
    records = [r for r in unpack(stamp[2:]) if r[0] != NONCE] if stamp else []
    names = [name for name, _ in records] + [NONCE]
    tokens = [token for _, token in records] + [os.urandom(TOKEN_BYTES)]
    return pack(names, tokens)


#: The name of the read-through record: when the value logically expires and
#: how long its loader took, for early refresh (XFetch) and serve-stale windows.
#: Always the last record, so it is found without parsing the others (tags and
#: partition names never hold a NUL).
META = "\x00x"
META_SIZE = 1 + len(META) + TOKEN_BYTES
_META_HEAD = bytes((len(META),)) + META.encode()
_HARD = 0x8000


@dataclass(frozen=True)
class Meta:
    """``expires_at`` (epoch seconds), ``delta`` (seconds the load took), and
    ``hard``: plain reads must treat the value as gone after ``expires_at``
    (it is kept longer only for a serve-stale window)."""

    expires_at: float
    delta: float
    hard: bool


def with_meta(stamp: bytes, meta: Meta) -> bytes:
    """``stamp`` with ``meta`` as its last record."""
    millis = max(0, min(int(meta.delta * 1000), _HARD - 1)) | (_HARD if meta.hard else 0)
    token = int(meta.expires_at * 1000).to_bytes(6, "big") + millis.to_bytes(2, "big")
    body = (without_meta(stamp)[2:] if stamp else b"") + _META_HEAD + token
    return len(body).to_bytes(2, "big") + body


def without_meta(stamp: bytes) -> bytes:
    """``stamp`` without its read-through record (before a new one is sealed)."""
    if not stamp:
        return stamp
    body, meta = split_meta(stamp[2:])
    if meta is None:
        return stamp
    return len(body).to_bytes(2, "big") + body if body else b""


def split_meta(body: bytes) -> tuple[bytes, Meta | None]:
    """``(body without the meta record, the meta)`` of a stamp body."""
    if len(body) < META_SIZE or body[-META_SIZE:-TOKEN_BYTES] != _META_HEAD:
        return body, None
    token = body[-TOKEN_BYTES:]
    millis = int.from_bytes(token[6:], "big")
    meta = Meta(
        int.from_bytes(token[:6], "big") / 1000, (millis & ~_HARD) / 1000, bool(millis & _HARD)
    )
    return body[:-META_SIZE], meta


def split(payload: bytes) -> tuple[bytes, bytes]:
    """``(stamp body, rest of the payload)``; ``InvalidValue`` if malformed."""
    size = int.from_bytes(payload[:2], "big")
    if len(payload) < 2 + size:
        raise InvalidValue("stamp")
    return payload[2 : 2 + size], payload[2 + size :]


def unpack(body: bytes) -> list[tuple[str, bytes]]:
    """The ``(name, token)`` records of a stamp body; ``InvalidValue`` if malformed."""
    records, at = [], 0
    while at < len(body):
        size = body[at]
        end = at + 1 + size + TOKEN_BYTES
        if end > len(body):
            raise InvalidValue("stamp")
        try:
            name = body[at + 1 : at + 1 + size].decode()
        except UnicodeDecodeError:  # only a writer holding the key could seal this
            raise InvalidValue("stamp") from None
        records.append((name, body[at + 1 + size : end]))
        at = end
    return records
