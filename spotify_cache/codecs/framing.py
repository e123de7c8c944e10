"""The three-byte header in front of every stored blob.

::

    byte 0   format version (``FORMAT_VERSION``)
    byte 1   flags: bits 0-2 serializer id, bits 3-4 compressor id,
             bits 5-6 sealing algorithm id, bit 7 stamped (the sealed
             payload starts with a ``stamps`` record of version tokens)
    byte 2   key id of the key that sealed the blob

The header is authenticated together with the body, so nothing in it can be
changed without the blob being rejected; it is never guessed from content.
"""

from __future__ import annotations

from typing import NamedTuple

from ..exceptions import InvalidValue

FORMAT_VERSION = 1
HEADER_SIZE = 3
STAMPED = 0x80
#: A key invalidated by ``cache.invalidate(key)`` holds this marker (plus a
#: random token) for a grace period: it reads as a miss, ``add`` treats it as
#: free, and a read-through loader that saw something else cannot overwrite it.
#: Its first byte is never ``FORMAT_VERSION``, so it can never open as a value.
TOMBSTONE = b"\x00spotify-cache:invalidated:"


class Header(NamedTuple):
    serializer: int
    compressor: int
    algorithm: int
    key_id: int


def pack_header(serializer: int, compressor: int, algorithm: int, key_id: int) -> bytes:
    """The header bytes for a blob sealed with these ids."""
    flags = serializer | (compressor << 3) | (algorithm << 5)
    return bytes((FORMAT_VERSION, flags, key_id))


def unpack_header(blob: bytes) -> Header:
    """Parse the header of ``blob``; raise ``InvalidValue`` for anything unknown."""
    if len(blob) < HEADER_SIZE:
        raise InvalidValue("truncated")
    version, flags, key_id = blob[0], blob[1], blob[2]
    if version != FORMAT_VERSION:
        raise InvalidValue("stale" if blob.startswith(TOMBSTONE) else "version")
    return Header(flags & 0x07, (flags >> 3) & 0x03, (flags >> 5) & 0x03, key_id)


def bind_key(store_key: str) -> bytes:
    """Unambiguous encoding of the store key for associated data / MAC input."""
    raw = store_key.encode()
    return len(raw).to_bytes(4, "big") + raw
