"""``ValueCodec``: the one place values become stored bytes and back.

encode: serialize -> compress (above a threshold, only if it shrinks) -> [stamp] -> seal
decode: check size -> parse header -> authenticate/decrypt -> [check stamp] -> inflate
        -> deserialize

Nothing reaches a deserializer before the sealer has authenticated it, and
nothing invalidated (a stamp naming a version token that is no longer
current) reaches it either: it reads as ``InvalidValue("stale")``.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import Any

from ..exceptions import InvalidValue
from . import stamps
from .compressors import Compressor
from .framing import FORMAT_VERSION, HEADER_SIZE, STAMPED, TOMBSTONE, pack_header
from .sealing import Sealer
from .serializers import Serializer

_NONCE_ONLY = 1 + stamps.TOKEN_BYTES  # a stamp body holding only the nonce record


class ValueCodec:
    """Turns values into sealed, framed blobs bound to their store key, and back."""

    def __init__(
        self,
        serializer: Serializer,
        sealer: Sealer,
        *,
        compressor: Compressor | None = None,
        compress_min_bytes: int = 1024,
        max_value_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.serializer = serializer
        self.sealer = sealer
        self.compressor = compressor
        self.compress_min_bytes = compress_min_bytes
        self.max_value_bytes = max_value_bytes
        self._loaders = {serializer.id: serializer.loads}
        self._compressors = {compressor.id: compressor} if compressor else {}
        self._max_blob = sealer.sealed_size_limit(max_value_bytes)
        self._algorithm = sealer.algorithm
        self._key_ids = sealer.key_ids
        self._open = sealer.open
        self._seal = sealer.seal
        self._plain_header = pack_header(serializer.id, 0, sealer.algorithm, sealer.key_id)
        #: The version record every value read through this codec must carry
        #: (a partition's ``p:<name>``), or ``None``.
        self.required: str | None = None
        self._required_head = b""
        self.lenient = False
        #: Seal each value's expiry with it (stores others can write to: Redis), so
        #: a blob put back after it expired, or without its TTL, reads as a miss.
        self.seal_expiry = False
        #: Bound with the store key: what else names where the blob lives (on
        #: Redis the database), so a blob copied to another database is refused.
        self.context = b""
        self._lenient_twin: ValueCodec | None = None
        self._last_meta = threading.local()
        #: ``stamp_valid(body)``: are the records of this stamp body all current?
        self.stamp_valid: Callable[[bytes], bool] | None = None

    def derive(
        self,
        *,
        serializer: Serializer | None = None,
        compressor: Compressor | bool | None = False,
        required: str | None = None,
        stamp_valid: Callable[[bytes], bool] | None = None,
    ) -> ValueCodec:
        """A copy sharing the sealer, with another serializer or compressor
        (``False``: keep this one's) and stamp policy (a partition's codec)."""
        twin = copy.copy(self)
        twin._lenient_twin, twin._last_meta = None, threading.local()
        if serializer is not None:
            twin.serializer = serializer
            twin._loaders = {serializer.id: serializer.loads}
            twin._plain_header = pack_header(serializer.id, 0, self._algorithm, self.sealer.key_id)
        if isinstance(compressor, Compressor):
            twin.compressor = compressor
            twin._compressors = {**self._compressors, compressor.id: compressor}
        elif compressor is None:
            twin.compressor = None
        twin.required = required
        twin._required_head = stamps.record_head(required) if required else b""
        twin.stamp_valid = stamp_valid or self.stamp_valid
        return twin

    def encode(
        self,
        store_key: str,
        value: Any,
        stamp: bytes = b"",
        unique: bool = False,
        expires_in: float | None = None,
    ) -> bytes:
        """The sealed blob for ``value`` under ``store_key`` (with a ``stamps``
        record when given); ``unique``: never equal to another blob, even under
        a deterministic sealer; ``expires_in``: the TTL it is written with
        (sealed with it under ``seal_expiry``); ``ValueError`` if too large."""
        if unique and self.sealer.deterministic:
            stamp = stamps.with_nonce(stamp)
        if self.seal_expiry and expires_in is not None and expires_in > 0:
            stamp = stamps.with_meta(stamp, stamps.Meta(time.time() + expires_in, 0.0, True))
        payload = self.serializer.dumps(value)
        header = self._plain_header
        if self.compressor is not None and len(payload) >= self.compress_min_bytes:
            header, payload = self._compress(header, payload)
        if len(payload) > self.max_value_bytes:
            raise ValueError(
                f"value for cache key {store_key!r} is {len(payload)} bytes, "
                f"over MAX_VALUE_BYTES={self.max_value_bytes}"
            )
        if stamp:
            header, payload = bytes((header[0], header[1] | STAMPED, header[2])), stamp + payload
        raw_key = self.context + store_key.encode()  # framing.bind_key, inlined
        return self._seal(header, len(raw_key).to_bytes(4, "big") + raw_key, payload)

    def decode(self, store_key: str, blob: bytes) -> Any:
        """The value sealed in ``blob`` for ``store_key``; ``InvalidValue`` if refused."""
        # The header (see ``framing``) is read inline: this is the hottest path.
        if len(blob) < HEADER_SIZE:
            raise InvalidValue("truncated")
        if len(blob) > self._max_blob:
            raise InvalidValue("too_large")
        version, flags, key_id = blob[0], blob[1], blob[2]
        if version != FORMAT_VERSION:
            raise InvalidValue("stale" if blob.startswith(TOMBSTONE) else "version")
        if (flags >> 5) & 0x03 != self._algorithm:
            raise InvalidValue("algorithm")
        if key_id not in self._key_ids:
            raise InvalidValue("key_id")
        raw_key = self.context + store_key.encode()  # framing.bind_key, inlined
        payload = self._open(blob, key_id, len(raw_key).to_bytes(4, "big") + raw_key)
        if flags & STAMPED:
            payload = self._check_stamp(payload)
        elif self.required is not None:
            raise InvalidValue("stale")  # written before its partition was configured
        if flags & 0x18:
            payload = self._inflate((flags >> 3) & 0x03, payload)
        loads = self._loaders.get(flags & 0x07)
        if loads is None:
            raise InvalidValue("serializer")
        try:
            return loads(payload)
        except Exception:  # authenticated but undecodable (class renamed since): a miss
            raise InvalidValue("decode") from None

    def authentic(self, store_key: str, blob: bytes) -> bool:
        """Whether ``blob`` was sealed for ``store_key`` by one of this codec's keys
        (whatever its serializer or stamp): what may enter a near-cache."""
        if not HEADER_SIZE <= len(blob) <= self._max_blob or blob[0] != FORMAT_VERSION:
            return False
        if (blob[1] >> 5) & 0x03 != self._algorithm or blob[2] not in self._key_ids:
            return False
        raw_key = self.context + store_key.encode()
        try:
            self._open(blob, blob[2], len(raw_key).to_bytes(4, "big") + raw_key)
        except InvalidValue:
            return False
        return True

    def stamp_of(self, store_key: str, blob: bytes) -> bytes:
        """The stamp record sealed in ``blob`` (``b""`` if none), for a blob the
        caller has just decoded (``incr`` keeps it on the new value); only its
        authenticity is checked again, so a concurrent invalidation cannot make
        this raise: the new value then carries the old stamp and reads as stale."""
        if not blob[1] & STAMPED:
            return b""
        raw_key = self.context + store_key.encode()
        payload = self._open(blob, blob[2], len(raw_key).to_bytes(4, "big") + raw_key)
        body, _ = stamps.split(payload)
        return len(body).to_bytes(2, "big") + body

    def _check_stamp(self, payload: bytes) -> bytes:
        size = int.from_bytes(payload[:2], "big")  # stamps.split, inlined
        body, rest = payload[2 : 2 + size], payload[2 + size :]
        if len(body) != size:
            raise InvalidValue("stamp")
        if not body.startswith(self._required_head):
            raise InvalidValue("stale")  # sealed for another partition layout
        if size >= stamps.META_SIZE and body[-stamps.META_SIZE] == 2 and body[-9] == 120:
            body = self._check_meta(body)  # (120 is "x": the end of the meta record's name)
        if not body or (len(body) == _NONCE_ONLY and body[0] == 0):
            return rest  # a unique counter or add(): no versions to check
        if self.stamp_valid is None or not self.stamp_valid(body):
            raise InvalidValue("stale")
        return rest

    def _check_meta(self, body: bytes) -> bytes:
        if len(body) == stamps.META_SIZE and body[-2] & 0x80 and not self.lenient:
            # only a sealed expiry, the common case on Redis: checked without objects
            if time.time() * 1000 >= int.from_bytes(body[3:9], "big"):
                raise InvalidValue("stale")  # expired: put back without its TTL?
            return b""
        body, meta = stamps.split_meta(body)
        if meta is not None:
            if meta.hard and not self.lenient and time.time() >= meta.expires_at:
                raise InvalidValue("stale")  # kept only for a serve-stale window
            self._last_meta.value = meta
        return body

    def decode_meta(self, store_key: str, blob: bytes) -> tuple[Any, stamps.Meta | None]:
        """``decode``, also returning the read-through record, and returning a
        value past its serve-stale expiry (``get_or_set`` decides what to do)."""
        twin = self._lenient_twin
        if twin is None:
            twin = self._lenient_twin = copy.copy(self)
            twin.lenient = True
        twin._last_meta.value = None
        return twin.decode(store_key, blob), twin._last_meta.value

    def _compress(self, header: bytes, payload: bytes) -> tuple[bytes, bytes]:
        assert self.compressor is not None
        packed = self.compressor.compress(payload)
        if len(packed) >= len(payload):
            return header, payload
        flags = header[1] | (self.compressor.id << 3)
        return bytes((header[0], flags, header[2])), packed

    def _inflate(self, compressor_id: int, payload: bytes) -> bytes:
        compressor = self._compressors.get(compressor_id)
        if compressor is None:
            raise InvalidValue("compressor")
        return compressor.decompress(payload, self.max_value_bytes)


def build_codec(
    serializer: Serializer, sealer: Sealer, compressor: Compressor | None, **limits: int
) -> ValueCodec:
    """A codec that opens its own serializer's blobs only: an authentic blob of
    another serializer (pickle, under a json cache) reads as a miss, since
    whoever shares the key must not choose how this cache deserializes."""
    return ValueCodec(serializer, sealer, compressor=compressor, **limits)
