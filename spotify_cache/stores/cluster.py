"""The Redis Cluster store: ``OPTIONS["CLUSTER"] = True``.

``LOCATION`` is one or more startup nodes (``redis://host:port``, a list or
a comma-separated string); the client discovers the other nodes.  Reads and
writes go to the primary of the key's slot (no replica reads).  Every Lua
script touches one key, so it runs on that key's node unchanged.  Batches
are grouped by slot and sent as one pipeline, which is one round trip per
node: ``get_many`` is an MGET per slot, ``set_many`` an MSET per slot (or a
SET PX per key), ``delete_many`` an UNLINK per slot.  ``clear``,
``iter_keys`` and ``delete_matching`` SCAN every primary.  Sync calls use
``redis.cluster.RedisCluster`` (GET/SET/UNLINK straight on the slot's pooled
connection, ``cluster_wire``); async calls use ``redis.asyncio.cluster``, one
client per event loop (``cluster_client``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import redis.asyncio.cluster as acluster
from redis.cluster import RedisCluster

from ..codecs.framing import TOMBSTONE
from ..exceptions import StoreError
from . import cluster_client, option_checks, redis_pool
from .base import Store
from .cluster_client import ERRORS, wrap, wraps_async_errors, wraps_errors
from .cluster_wire import SlotWire
from .lua import source
from .redis import _owned_key, _px, _px_arg, _touch_arg
from .versions import Versions

Owns = Callable[[str], bool]
_BATCH = 500
_SCRIPTS = ("add", "compare_and_set", "set_if_unchanged", "touch")


class RedisClusterStore(Store):
    """Sealed blobs in a Redis Cluster; one client per process per configuration."""

    option_names: ClassVar[frozenset[str]] = frozenset({*redis_pool.DEFAULTS, "CLEAR", "CLUSTER"})
    owns: Owns | None = None

    def __init__(
        self, location: str | Sequence[str], options: Mapping[str, Any], *, namespace: str = "*"
    ) -> None:
        urls = [location] if isinstance(location, str) else list(location)
        cluster_client.check_locations(urls)
        super().__init__(urls[0], options, namespace=namespace)
        self.urls = urls
        self.ident = cluster_client.identity(urls)
        self.flush_on_clear = options.get("CLEAR", "namespace") == "flushdb"
        self._kwargs = cluster_client.client_kwargs(options)
        self._cluster: RedisCluster | None = None  # built on first use: it talks to the cluster
        self._wire: SlotWire | None = None
        self._scripts: dict[str, Any] = {}

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        redis_pool.check_options(options)
        option_checks.one_of(options, "CLEAR", ("namespace", "flushdb"))
        if "db" in (options.get("CONNECTION_POOL_KWARGS") or {}):
            raise ValueError(
                'OPTIONS["CONNECTION_POOL_KWARGS"]["db"]: a cluster has database 0 only'
            )
        flag = options.get("CLUSTER", True)
        if not isinstance(flag, bool):
            raise ValueError(f'OPTIONS["CLUSTER"] must be True or False, not {flag!r}')

    # -- clients -----------------------------------------------------------------
    def client(self, write: bool = True) -> RedisCluster:
        """The raw ``redis.cluster.RedisCluster`` (reads go to primaries either way)."""
        cluster = self._cluster
        if cluster is None:
            try:
                cluster = cluster_client.sync_client(self.urls, self._kwargs)
            except ERRORS as exc:
                raise wrap(exc) from exc
            self._wire = SlotWire(cluster)
            self._scripts = {name: cluster.register_script(source(name)) for name in _SCRIPTS}
            self._cluster = cluster
        return cluster

    def _wired(self) -> SlotWire:
        wire = self._wire
        if wire is None:
            self.client()
            wire = self._wire
        return wire  # type: ignore[return-value]

    def _script(self, name: str) -> Any:
        self.client()
        return self._scripts[name]

    async def async_client(self, write: bool = True) -> acluster.RedisCluster:
        """The raw ``redis.asyncio.cluster.RedisCluster`` of the running loop."""
        return await cluster_client.async_client(self.urls, self._kwargs)

    # -- sync --------------------------------------------------------------------
    @wraps_errors
    def get(self, key: str) -> bytes | None:
        return self._wired().execute(key, "GET", key)

    @wraps_errors
    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return self._wired().mget(keys) if keys else []

    @wraps_errors
    def get_with_pttl(self, key: str) -> tuple[bytes | None, int]:
        """The blob and its remaining TTL in ms (-1 none, -2 absent), in one round trip."""
        pipe = self.client().pipeline(transaction=False)
        pipe.get(key)
        pipe.pttl(key)
        blob, pttl = pipe.execute()
        return blob, pttl

    @wraps_errors
    def get_many_with_pttl(self, keys: Sequence[str]) -> list[tuple[bytes | None, int]]:
        """``get_with_pttl`` for many keys, one round trip per node."""
        pipe = self.client().pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
            pipe.pttl(key)
        replies = pipe.execute()
        return list(zip(replies[0::2], replies[1::2], strict=True))

    @wraps_errors
    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        wire = self._wired()
        if ttl is not None and ttl <= 0:
            wire.execute(key, "UNLINK", key)
        elif ttl is None:
            wire.execute(key, "SET", key, value)
        else:
            wire.execute(key, "SET", key, value, "PX", _px(ttl))

    @wraps_errors
    def set_many(self, items: Mapping[str, bytes], ttl: float | None) -> None:
        if not items:
            return
        cluster = self.client()
        if ttl is not None and ttl <= 0:
            cluster.unlink(*items)
        elif ttl is None:
            cluster.mset_nonatomic(dict(items))
        else:
            pipe = cluster.pipeline(transaction=False)
            for key, value in items.items():
                pipe.set(key, value, px=_px(ttl))
            pipe.execute()

    @wraps_errors
    def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        if ttl is not None and ttl <= 0:
            return not self.client().exists(key)
        return self._script("add")(keys=[key], args=[value, _px_arg(ttl), TOMBSTONE]) == 1

    @wraps_errors
    def set_if_unchanged(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None
    ) -> bool:
        if ttl is not None and ttl <= 0:
            return False
        args: list[bytes | str] = [expected or b"", value, _px_arg(ttl)]
        return self._script("set_if_unchanged")(keys=[key], args=args) == 1

    @wraps_errors
    def compare_and_set(self, key: str, expected: bytes, value: bytes) -> bool:
        # 2: the key already holds ``value`` (a retried call whose first copy ran)
        return self._script("compare_and_set")(keys=[key], args=[expected, value]) in (1, 2)

    @wraps_errors
    def touch(self, key: str, ttl: float | None) -> bool:
        return self._script("touch")(keys=[key], args=[_touch_arg(ttl)]) == 1

    @wraps_errors
    def delete(self, key: str) -> bool:
        return bool(self._wired().execute(key, "UNLINK", key))

    @wraps_errors
    def delete_many(self, keys: Sequence[str]) -> int:
        return int(self.client().unlink(*keys)) if keys else 0

    def versions(self, head: str, tail: str) -> Versions:
        """Records on the cluster, cached in process and kept coherent by a tracking
        connection to every primary."""
        from .cluster_versions import ClusterVersions

        return ClusterVersions.for_store(self, head, tail)

    def _check_namespace(self) -> None:
        if not self.flush_on_clear and not self.namespace:
            raise StoreError(
                "clear() cannot find this cache's keys: KEY_FUNCTION does not embed the key "
                'and version; set OPTIONS["CLEAR"] = "flushdb" to flush every primary'
            )

    @wraps_errors
    def clear(self) -> None:
        self._check_namespace()
        if self.flush_on_clear:
            self.client().flushdb(target_nodes=RedisCluster.PRIMARIES)
        else:
            self.delete_matching(self.namespace)

    def iter_keys(self, pattern: str, owns: Owns | None = None) -> Iterator[str]:
        """Keys matching ``pattern`` on every primary that this cache could have made:
        UTF-8 ones that ``owns`` (by default ``self.owns``, when set) accepts."""
        mine = owns or self.owns
        try:
            cluster = self.client()
            for raw in cluster.scan_iter(match=pattern, count=_BATCH):
                key = _owned_key(raw, mine)
                if key is not None:
                    yield key
        except ERRORS as exc:
            raise wrap(exc) from exc

    @wraps_errors
    def delete_matching(self, pattern: str, owns: Owns | None = None) -> int:
        """Remove every key ``iter_keys`` yields (SCAN + UNLINK in batches, never KEYS)."""
        removed, batch = 0, []
        for key in self.iter_keys(pattern, owns):
            batch.append(key)
            if len(batch) >= _BATCH:
                removed += self.delete_many(batch)
                batch = []
        return removed + self.delete_many(batch)

    @wraps_errors
    def ttl(self, key: str) -> float | None:
        """Seconds left: ``None`` if the key never expires, ``-2.0`` if absent."""
        ms = self.client().pttl(key)
        return None if ms == -1 else (-2.0 if ms == -2 else ms / 1000)

    # -- async ------------------------------------------------------------------
    @wraps_async_errors
    async def aget(self, key: str) -> bytes | None:
        return await (await self.async_client()).get(key)  # type: ignore[return-value]

    @wraps_async_errors
    async def aget_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        return await (await self.async_client()).mget_nonatomic(list(keys))

    @wraps_async_errors
    async def aget_with_pttl(self, key: str) -> tuple[bytes | None, int]:
        async with (await self.async_client()).pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            blob, pttl = await pipe.execute()
        return blob, pttl

    @wraps_async_errors
    async def aget_many_with_pttl(self, keys: Sequence[str]) -> list[tuple[bytes | None, int]]:
        async with (await self.async_client()).pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
                pipe.pttl(key)
            replies = await pipe.execute()
        return list(zip(replies[0::2], replies[1::2], strict=True))

    @wraps_async_errors
    async def aset(self, key: str, value: bytes, ttl: float | None) -> None:
        cluster = await self.async_client()
        if ttl is not None and ttl <= 0:
            await cluster.unlink(key)
        else:
            await cluster.set(key, value, px=None if ttl is None else _px(ttl))

    @wraps_async_errors
    async def aset_many(self, items: Mapping[str, bytes], ttl: float | None) -> None:
        if not items:
            return
        cluster = await self.async_client()
        if ttl is not None and ttl <= 0:
            await cluster.unlink(*items)
        elif ttl is None:
            await cluster.mset_nonatomic(dict(items))
        else:
            async with cluster.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(key, value, px=_px(ttl))
                await pipe.execute()

    async def _run(self, name: str, key: str, args: list[Any]) -> Any:
        script = (await self.async_client()).register_script(source(name))
        return await script(keys=[key], args=args)

    @wraps_async_errors
    async def aadd(self, key: str, value: bytes, ttl: float | None) -> bool:
        if ttl is not None and ttl <= 0:
            return not await (await self.async_client()).exists(key)
        return await self._run("add", key, [value, _px_arg(ttl), TOMBSTONE]) == 1

    @wraps_async_errors
    async def aset_if_unchanged(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None
    ) -> bool:
        if ttl is not None and ttl <= 0:
            return False
        return await self._run("set_if_unchanged", key, [expected or b"", value, _px_arg(ttl)]) == 1

    @wraps_async_errors
    async def acompare_and_set(self, key: str, expected: bytes, value: bytes) -> bool:
        return await self._run("compare_and_set", key, [expected, value]) in (1, 2)

    @wraps_async_errors
    async def atouch(self, key: str, ttl: float | None) -> bool:
        return await self._run("touch", key, [_touch_arg(ttl)]) == 1

    @wraps_async_errors
    async def adelete(self, key: str) -> bool:
        return bool(await (await self.async_client()).unlink(key))

    @wraps_async_errors
    async def adelete_many(self, keys: Sequence[str]) -> int:
        return int(await (await self.async_client()).unlink(*keys)) if keys else 0

    @wraps_async_errors
    async def aclear(self) -> None:
        self._check_namespace()
        cluster = await self.async_client()
        if self.flush_on_clear:
            await cluster.flushdb(target_nodes=acluster.RedisCluster.PRIMARIES)
            return
        batch: list[str] = []
        async for raw in cluster.scan_iter(match=self.namespace, count=_BATCH):
            key = _owned_key(raw, self.owns)
            if key is not None:
                batch.append(key)
            if len(batch) >= _BATCH:
                await cluster.unlink(*batch)
                batch = []
        if batch:
            await cluster.unlink(*batch)
