"""Serializers: objects <-> bytes.  Each has a fixed id recorded in the header."""

from __future__ import annotations

import json
import pickle
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder


class Serializer:
    """Base class: ``dumps`` and ``loads``; ``id`` (1-7) is stored in every header.

    Custom serializers named by dotted path must use ids 4-7.
    """

    id = 0
    name = "base"

    def dumps(self, value: Any) -> bytes:
        raise NotImplementedError

    def loads(self, data: bytes) -> Any:
        raise NotImplementedError


class PickleSerializer(Serializer):
    """Pickle, the default: ``cache_page`` stores ``HttpResponse`` objects and
    sessions need arbitrary objects.  Only ever fed authenticated bytes."""

    id = 1
    name = "pickle"

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value, self.protocol)

    # The C function itself: this sits on every read's path.
    loads = staticmethod(pickle.loads)  # type: ignore[assignment]


class JSONSerializer(Serializer):
    """JSON (UTF-8); dates and decimals are written as strings."""

    id = 2
    name = "json"

    def dumps(self, value: Any) -> bytes:
        return json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":")).encode()

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


class MsgpackSerializer(Serializer):
    """MessagePack (needs the ``msgpack`` package)."""

    id = 3
    name = "msgpack"

    def __init__(self) -> None:
        import msgpack

        self._msgpack = msgpack

    def dumps(self, value: Any) -> bytes:
        return self._msgpack.packb(value, use_bin_type=True)

    def loads(self, data: bytes) -> Any:
        return self._msgpack.unpackb(data, raw=False, strict_map_key=False)


BUILTIN: dict[str, type[Serializer]] = {
    "pickle": PickleSerializer,
    "json": JSONSerializer,
    "msgpack": MsgpackSerializer,
}
