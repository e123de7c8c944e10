"""Client-side-caching invalidations from every primary of a Redis Cluster.

Tracking is per node: a key's invalidations come from the node serving its
slot.  A ``ClusterTracker`` runs one ``tracking.Tracker`` (a RESP3
connection with ``CLIENT TRACKING ON BCAST PREFIX``) per primary and offers
subscribers the same interface as a single ``Tracker``: ``healthy``,
``epoch``, ``fresh(epoch)``, ``bump(keys)``, ``lock``, ``subscribe``.  It is
healthy only while every primary's tracker is; when a node's tracker
(re)connects, subscribers are emptied, exactly as with one server.

The set of primaries is read from the cluster client's topology every
``INTERVAL`` seconds (a watcher thread): a node that became primary (a
failover, a new shard) gets a tracker, one that no longer is loses its own.
While a tracker stays down the watcher asks the client to re-read the
topology, so a failover is noticed even when no command failed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from ..exceptions import StoreError
from .cluster_client import ERRORS, node_url
from .tracking import RECENT_LIMIT, Listener, Tracker, wire_key

logger = logging.getLogger("spotify_cache.near_cache")

#: Seconds between two reads of the topology.
INTERVAL = 0.5
_trackers: dict[tuple[int, str, str], ClusterTracker] = {}
_trackers_lock = threading.Lock()


class ClusterTracker:
    """Invalidations of keys under ``prefix`` from every primary of ``store``'s cluster
    (a ``RedisClusterStore``: its client's topology says which nodes are primaries)."""

    def __init__(self, store: Any, prefix: str) -> None:
        self.store, self.template, self.prefix = store, store.urls[0], prefix
        self.epoch = 0
        self.floor = 0
        self._recent: dict[bytes, int] = {}
        self.lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._nodes: dict[str, Tracker] = {}
        self._down_ticks = 0
        self._unsure = False  # emptying the subscribers failed: not healthy until it works
        self._stop = threading.Event()
        self._round()
        self._thread = threading.Thread(
            target=self._watch, name=f"spotify-cache-cluster-tracking:{prefix}", daemon=True
        )
        self._thread.start()

    @classmethod
    def for_prefix(cls, store: Any, prefix: str) -> Any:
        """The process-wide tracker of ``store``'s cluster for ``prefix``."""
        key = (os.getpid(), store.ident, prefix)
        with _trackers_lock:
            tracker = _trackers.get(key)
            if tracker is None:
                tracker = _trackers[key] = cls(store, prefix)
            return tracker

    # -- what subscribers use (as with tracking.Tracker) ------------------------------
    @property
    def healthy(self) -> bool:
        """Whether every primary's tracking connection is up and told its subscribers."""
        nodes = self._nodes
        return not self._unsure and bool(nodes) and all(t.healthy for t in nodes.values())

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(keys)`` on each invalidation (``None``: drop everything)."""
        with self.lock:
            self._listeners.append(listener)

    def wait_ready(self, timeout: float) -> bool:
        """Block until every primary is tracked (tests, start-up)."""
        deadline = time.monotonic() + timeout
        while not self.healthy:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    @contextmanager
    def fresh(self, epoch: int) -> Iterator[Callable[[str], bool]]:
        """Hold the lock; yield a test of whether a key fetched at ``epoch`` is still valid."""
        with self.lock:
            if not self.healthy or self.floor > epoch:
                yield lambda key: False
            else:
                yield lambda key: self._recent.get(wire_key(key), -1) <= epoch

    def bump(self, keys: Iterable[str] | None) -> None:
        """Record a local write, so that fetches under way do not keep stale data."""
        with self.lock:
            self._record(None if keys is None else [wire_key(key) for key in keys])

    def _record(self, keys: Iterable[bytes] | None) -> None:
        self.epoch += 1
        if keys is None or len(self._recent) > RECENT_LIMIT:
            self._recent.clear()
            self.floor = self.epoch
        if keys is not None:
            for key in keys:
                self._recent[key] = self.epoch

    def _relay(self, keys: Iterable[str] | None) -> None:
        """A node's invalidation, passed on under this tracker's lock.  A listener
        that raises makes the node's tracker retry with ``None``, then reconnect."""
        with self.lock:
            names = None if keys is None else list(keys)
            self._record(None if names is None else [wire_key(key) for key in names])
            for listener in self._listeners:
                listener(names)
            if names is None:
                self._unsure = False

    # -- the primaries --------------------------------------------------------------
    def _primaries(self) -> dict[str, str]:
        return {
            node.name: node_url(self.template, node.host, int(node.port))
            for node in self.store.client().get_primaries()
        }

    def _reconcile(self) -> None:
        wanted = self._primaries()
        current = self._nodes
        if set(wanted) == set(current):
            return
        nodes = {name: t for name, t in current.items() if name in wanted}
        for name, url in wanted.items():
            if name not in nodes:
                nodes[name] = tracker = Tracker(url, self.prefix)
                tracker.subscribe(self._relay)
        self._nodes = nodes  # replaced whole: ``healthy`` reads it without the lock
        for name, tracker in current.items():
            if name not in wanted:
                tracker._stop.set()  # it notices within half a second
        self._empty()
        logger.info("cluster tracking on %s", sorted(wanted))

    def _empty(self) -> None:
        """Empty the subscribers: a new tracker may have connected before it was subscribed."""
        try:
            self._relay(None)
        except Exception:  # as a node's tracker would: reconnect it, which empties them
            logger.exception("emptying the near-caches failed; reconnecting cluster tracking")
            self._unsure = True
            for tracker in self._nodes.values():
                tracker._broken = True  # its reconnection empties the subscribers again

    def _watch(self) -> None:
        while not self._stop.wait(INTERVAL):
            self._round()

    def _round(self) -> None:
        try:
            self._refresh_if_down()
            self._reconcile()
        except (StoreError, *ERRORS) as exc:  # no topology yet: unhealthy, try again
            logger.warning("cluster topology unreadable: %s", type(exc).__name__)
        except Exception:  # the watcher must outlive a bug in one round
            logger.exception("cluster tracking watcher failed")

    def _refresh_if_down(self) -> None:
        """A tracker down for two rounds: its node may have failed over; re-read the topology."""
        if self._nodes and all(t.healthy for t in self._nodes.values()):
            self._down_ticks = 0
            return
        self._down_ticks += 1
        if self._down_ticks >= 2:
            self._down_ticks = 0
            self.store.client().nodes_manager.initialize()

    def stop(self) -> None:
        """Stop watching and tracking (each thread notices within half a second)."""
        self._stop.set()
        nodes = list(self._nodes.values())
        for tracker in nodes:
            tracker._stop.set()
        self._thread.join(2)
        for tracker in nodes:
            tracker.stop()


def stop_cluster_trackers(ident: str | None = None) -> None:
    """Stop every cluster tracker of this process, or those of the cluster named
    ``ident`` (``RedisClusterStore.ident``): test teardown, orderly shutdown."""
    with _trackers_lock:
        keys = [key for key in _trackers if ident is None or key[1] == ident]
        trackers = [_trackers.pop(key) for key in keys]
    for tracker in trackers:  # signal all, then wait
        tracker._stop.set()
        for node in tracker._nodes.values():
            node._stop.set()
    for tracker in trackers:
        with suppress(Exception):
            tracker.stop()
