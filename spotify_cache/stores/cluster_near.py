"""The near-cache over a Redis Cluster: ``NEAR_CACHE`` with ``CLUSTER``.

``near.NearCacheStore`` with a ``RedisClusterStore`` behind it and a
``cluster_tracking.ClusterTracker`` in place of the single tracker: every
primary pushes the invalidations of its own keys, and the tier is bypassed
while any primary's tracking connection is down (a failover included), then
emptied when it is back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .base import Store
from .cluster import RedisClusterStore
from .cluster_tracking import ClusterTracker
from .memory import MemoryStore
from .near import DEFAULTS, NearCacheStore
from .tracking import literal_prefix


class ClusterNearCacheStore(NearCacheStore):
    """A ``RedisClusterStore`` with a tracked in-process tier; the cluster is authoritative."""

    option_names: ClassVar[frozenset[str]] = RedisClusterStore.option_names | {"NEAR_CACHE"}

    def __init__(
        self, location: str | Sequence[str], options: Mapping[str, Any], *, namespace: str = "*"
    ) -> None:
        # Not NearCacheStore.__init__: its remote is one server with one tracker.
        self.remote: RedisClusterStore = RedisClusterStore(  # type: ignore[assignment]
            location, options, namespace=namespace
        )
        Store.__init__(self, self.remote.location, options, namespace=namespace)
        near = {**DEFAULTS, **(options.get("NEAR_CACHE") or {})}
        self.ttl_limit = float(near.pop("TTL"))
        # The rest are the local tier's own options (entries, bytes, strategy), as in
        # NearCacheStore: insert first, then evict one victim at a time.
        self.local = MemoryStore("", near, cull_first=False)
        self.tracker = ClusterTracker.for_prefix(self.remote, literal_prefix(namespace))
        self.tracker.subscribe(self._forget)
        self.flush_on_clear = self.remote.flush_on_clear

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        NearCacheStore.check_options(options)  # the NEAR_CACHE dict and connection options
        RedisClusterStore.check_options(options)
