"""Version records on a Redis Cluster: ``RedisVersions`` with cluster clients and tracking.

Every record command (GET, PTTL, SET NX PX, PEXPIRE GT, PERSIST, UNLINK)
touches one key, so the table's pipelines run unchanged on a cluster
pipeline, which groups them by node (one round trip per node); records of
one cache spread over the slots.  What differs: the tracked copy of the
records must hear from every primary (``cluster_tracking.ClusterTracker``,
healthy only when every primary's tracker is), the async client is awaited
per loop, and an async multi-key UNLINK is queued one key per command (the
async cluster pipeline takes one key per UNLINK).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisClusterException

from ..exceptions import StoreError, StoreUnavailable
from .cluster_client import ERRORS, UNAVAILABLE, wrap
from .cluster_tracking import ClusterTracker
from .redis_versions import RedisVersions
from .versions import Versions

if TYPE_CHECKING:
    from .cluster import RedisClusterStore

_shared: dict[tuple[int, str, str, str], ClusterVersions] = {}
_shared_lock = threading.Lock()


class ClusterVersions(RedisVersions):
    """Records under ``prefix + name + suffix`` on the cluster of ``store``."""

    def __init__(self, store: RedisClusterStore, prefix: str, suffix: str) -> None:
        # Not RedisVersions.__init__: it would track one server, not every primary.
        Versions.__init__(self)
        self._client = store.client()  # type: ignore[assignment]
        self._async_client = store.async_client  # awaited: the loop's cluster client
        self.prefix, self.suffix = prefix, suffix
        self._local = {}
        self.tracker = ClusterTracker.for_prefix(store, prefix)
        self.tracker.subscribe(self._forget)

    @classmethod
    def for_store(cls, store: RedisClusterStore, prefix: str, suffix: str) -> ClusterVersions:
        """One table per process per (cluster, record keys), shared by every thread's backend."""
        ident = (os.getpid(), store.ident, prefix, suffix)
        with _shared_lock:
            table = _shared.get(ident)
            if table is None:
                table = _shared[ident] = cls(store, prefix, suffix)
            return table

    # RedisVersions wraps ``RedisError`` as a standalone server's (a CLUSTERDOWN reply
    # is no "unavailable" there); some cluster errors are not ``RedisError`` at all.
    def current(self, names: Sequence[str]) -> list[bytes | None]:
        with _cluster_errors():
            return super().current(names)

    def acquire(self, names: Sequence[str], ttl: float | None) -> list[bytes]:
        with _cluster_errors():
            return super().acquire(names, ttl)

    def drop(self, names: Iterable[str]) -> None:
        with _cluster_errors():
            super().drop(names)

    async def adrop(self, names: Iterable[str]) -> None:
        keys = [self.key(n) for n in names]
        if keys:
            await self._aexecute(lambda pipe: [pipe.execute_command("UNLINK", k) for k in keys])
            self._forget_now(keys)

    async def _aexecute(self, queue: Callable[[Any], Any]) -> list[Any]:
        try:
            async with (await self._async_client()).pipeline(transaction=False) as pipe:
                queue(pipe)
                return await pipe.execute()
        except ERRORS as exc:
            raise wrap(exc) from exc


@contextmanager
def _cluster_errors() -> Iterator[None]:
    """Cluster errors as the cluster store wraps them (``cluster_client.wrap``)."""
    try:
        yield
    except RedisClusterException as exc:
        raise wrap(exc) from exc
    except StoreError as exc:
        cause = exc.__cause__
        if isinstance(cause, UNAVAILABLE) and not isinstance(exc, StoreUnavailable):
            raise wrap(cause) from cause
        raise
