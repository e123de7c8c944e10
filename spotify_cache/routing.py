"""Routing: which partition, store and codec a key goes through, and its stamp.

The backend asks the ``Router`` for a key's ``Route`` (partition policy, the
store holding it, the codec sealing it) and for the stamp of a write: the
version tokens of the key's partition and of the write's tags (see
``stores.versions``).  A cache without ``PARTITIONS`` has one route, its own
store and codec, and stamps only values written with tags.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured

from . import options as config
from .codecs import ValueCodec, stamps
from .codecs.compressors import BUILTIN as COMPRESSORS
from .codecs.compressors import Compressor
from .codecs.serializers import BUILTIN as SERIALIZERS
from .codecs.serializers import Serializer
from .namespace import GENERATION_VERSION
from .partitions import DEFAULT, Partition, read_partitions, route_order
from .stores import Store, failover
from .stores.versions import Versions

#: The version under which record keys are made: never an integer, so no
#: caller key of any version can be a record key.
RECORD_VERSION = GENERATION_VERSION
_MARK = "\x00spotify-record\x00"
#: Routes remembered per key (partitions never change while the process runs).
MEMO_LIMIT = 16384


class Route(NamedTuple):
    partition: Partition
    store: Store
    codec: ValueCodec


def _is_redis(store: Store) -> bool:
    classes = _redis_store_classes()
    return isinstance(store, classes) or isinstance(getattr(store, "remote", None), classes)


def database_context(store: Store) -> bytes:
    """What the seal binds besides the store key: the Redis database number (a
    blob copied from db 0 to db 1 under the same prefix is refused); nothing for
    stores no one else can write to."""
    if not _is_redis(store):
        return b""
    url = urlsplit(str(getattr(store, "remote", store).location))
    db = parse_qs(url.query).get("db", [""])[0] or url.path.strip("/") or "0"
    return f"redis-db={db}\x00".encode()


def _redis_store_classes() -> tuple[type[Store], ...]:
    """The stores on a Redis server shared by every process: one server or a cluster."""
    from .stores.redis import RedisStore

    cluster = sys.modules.get("spotify_cache.stores.cluster")  # imported if a cache uses it
    return (RedisStore,) if cluster is None else (RedisStore, cluster.RedisClusterStore)


def tag_records(tags: Iterable[str] | None) -> list[str]:
    """Record names of ``tags``; ``TypeError`` for a bare string or a non-string tag."""
    if tags is None:
        return []
    if isinstance(tags, str | bytes):
        raise TypeError(f"tags must be a list of strings, not the string {tags!r}")
    names = []
    for tag in tags:
        if not isinstance(tag, str) or not tag:
            raise TypeError(f"a tag must be a non-empty string, not {tag!r}")
        names.append(f"t:{tag}")
    return names


def _where(partition: Partition) -> str:
    return f'OPTIONS["PARTITIONS"][{partition.name!r}]'


def partition_codec(partition: Partition) -> tuple[Serializer | None, Compressor | bool | None]:
    """The serializer and compressor a partition asks for (``None`` serializer:
    the cache's; ``False`` compressor: the cache's)."""
    spec = partition.codec_options
    try:
        serializer = config._plugin("SERIALIZER", spec.get("SERIALIZER"), SERIALIZERS, Serializer)
        if "COMPRESSOR" not in spec:
            return serializer, False
        compressor = config._plugin("COMPRESSOR", spec["COMPRESSOR"], COMPRESSORS, Compressor)
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(f"{_where(partition)}: {exc}") from exc
    return serializer, compressor


def partition_store_config(
    partition: Partition, location: Any, options: Mapping[str, Any]
) -> config.CacheConfig:
    """The store configuration of a partition with store options of its own."""
    merged = {**options, **partition.store_options}
    if not config.near_cache_on(merged):
        merged.pop("NEAR_CACHE", None)
    try:
        return config.read_config(location, merged)
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(f"{_where(partition)}: {exc}") from exc


def check_partitions(location: Any, options: Mapping[str, Any]) -> None:
    """Raise ``ImproperlyConfigured`` for the first mistake in ``OPTIONS["PARTITIONS"]``,
    without building anything (``manage.py check``)."""
    store_cls = config.store_class(location, options)
    on_redis = issubclass(store_cls, _redis_store_classes()) or config.near_cache_on(options)
    for partition in read_partitions(options, on_redis=on_redis).values():
        partition_codec(partition)
        if partition.store_options:
            partition_store_config(partition, location, options)


class Router:
    """Routes of one cache: one per partition, longest prefix first."""

    def __init__(
        self,
        location: str | list[str],
        options: Mapping[str, Any],
        store: Store,
        codec: ValueCodec,
        make_key: Callable[..., str],
    ) -> None:
        self.partitioned = options.get("PARTITIONS") is not None
        self.partitions = read_partitions(options, on_redis=_is_redis(store))
        self._make_key = make_key
        self._versions: Versions | None = None
        self._memo: dict[Any, Route] = {}
        self._packed: dict[tuple[Any, ...], bytes] = {}
        codec.stamp_valid = self.stamp_valid  # until the records exist (then: theirs)
        codec.seal_expiry = _is_redis(store)  # others can write there: seal each expiry
        codec.context = database_context(store)
        routes = {
            name: self._build(p, location, options, store, codec)
            for name, p in self.partitions.items()
        }
        self.default = routes[DEFAULT]
        self._codecs = [codec, *(r.codec for r in routes.values())]
        self.ordered = [routes[p.name] for p in route_order(self.partitions)]
        self.stores = list({id(r.store): r.store for r in routes.values()}.values())

    # -- building ------------------------------------------------------------------
    def _build(
        self,
        partition: Partition,
        location: str | list[str],
        options: Mapping[str, Any],
        store: Store,
        codec: ValueCodec,
    ) -> Route:
        return Route(
            partition,
            self._store(partition, location, options, store),
            self._codec(partition, codec),
        )

    def _codec(self, partition: Partition, codec: ValueCodec) -> ValueCodec:
        if not self.partitioned and not partition.codec_options:
            return codec
        serializer, compressor = partition_codec(partition)
        required = partition.record if self.partitioned else None
        return codec.derive(serializer=serializer, compressor=compressor, required=required)

    def _store(
        self,
        partition: Partition,
        location: str | list[str],
        options: Mapping[str, Any],
        store: Store,
    ) -> Store:
        if not partition.store_options:
            return store
        cfg = partition_store_config(partition, location, options)
        if not _is_redis(store):  # a memory quota of its own
            place = f"{cfg.location or 'memory://'}#partition={partition.name}"
            opened = cfg.store_cls.open(place, cfg.options, namespace=store.namespace)
        else:
            opened = cfg.store_cls.open(cfg.location, cfg.options, namespace=store.namespace)
        return failover.wrap(opened, cfg.options)  # fail-open, as OPTIONS asks

    # -- routing -------------------------------------------------------------------
    def route(self, key: Any) -> Route:
        """The route of a caller's key: the longest matching partition prefix."""
        try:
            route = self._memo.get(key)
        except TypeError:  # an unhashable key: Django formats any object with %s
            return self._find(key)
        if route is None:
            route = self._find(key)
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = route
        return route

    def _find(self, key: Any) -> Route:
        text = key if isinstance(key, str) else str(key)
        for route in self.ordered:
            if text.startswith(route.partition.prefix):
                return route
        return self.default

    def named(self, name: str) -> Partition:
        """The partition called ``name``; ``KeyError`` naming the known ones."""
        try:
            return self.partitions[name]
        except KeyError:
            raise KeyError(f"no partition {name!r}; known: {sorted(self.partitions)}") from None

    # -- version records -----------------------------------------------------------
    @property
    def versions(self) -> Versions:
        """The cache's version records (created on first use: on Redis that
        starts the tracking connection)."""
        if self._versions is None:
            head, tail = self._record_key_parts()
            self._versions = self.default.store.versions(head, tail)
            for codec in self._codecs:  # the read path then calls the records directly
                codec.stamp_valid = self._versions.valid_stamp
        return self._versions

    def _record_key_parts(self) -> tuple[str, str]:
        """Record keys are ``head + name + tail``, made like any key of this cache."""
        sample = self._make_key(_MARK, version=RECORD_VERSION)
        head, found, tail = sample.partition(_MARK)
        if not found:  # a KEY_FUNCTION that hides the key: its output names this cache
            return f"{sample}:", ""
        return head, tail

    def forget_record_copies(self) -> None:
        """After ``clear()``: the records went with the values; drop local copies now."""
        if self._versions is not None:
            self._versions.forget_copies()

    def stamp_valid(self, body: bytes) -> bool:
        """Whether every record of a stamp body is current (the read-path check)."""
        return self.versions.valid_stamp(body)

    def records(self, route: Route, tags: Iterable[str] | None) -> list[str]:
        """The record names a write to ``route`` with ``tags`` is stamped with."""
        names = tag_records(tags)
        if self.partitioned:
            names.insert(0, route.partition.record)
        return names

    def stamp(self, names: Sequence[str], ttl: float | None) -> bytes:
        if not names or (ttl is not None and ttl <= 0):
            return b""
        return self._pack(names, self.versions.acquire(names, ttl))

    def _pack(self, names: Sequence[str], tokens: Sequence[bytes]) -> bytes:
        """``stamps.pack``, remembered: most writes repeat a recent stamp."""
        ident = (*names, *tokens)
        packed = self._packed.get(ident)
        if packed is None:
            if len(self._packed) >= MEMO_LIMIT:
                self._packed.clear()
            packed = self._packed[ident] = stamps.pack(names, tokens)
        return packed

    async def astamp(self, names: Sequence[str], ttl: float | None) -> bytes:
        if not names or (ttl is not None and ttl <= 0):
            return b""
        return self._pack(names, await self.versions.aacquire(names, ttl))
