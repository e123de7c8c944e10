"""Redis client-side-caching invalidations, one listener thread per process per prefix.

A dedicated RESP3 connection runs ``CLIENT TRACKING ON BCAST PREFIX <prefix>``:
Redis then pushes the name of every key under the prefix that anyone changes,
deletes, expires or evicts (``None`` for a flush).  Subscribers (near-caches)
drop those keys.  While the connection is down the tracker reports itself
unhealthy and subscribers must bypass their local copies; on every
(re)connect they are emptied, since invalidations may have been missed.

``epoch`` counts invalidations.  A reader notes it before fetching from Redis
and may keep a fetched blob only if that key was not invalidated since
(``fresh``), which closes the race between a fetch and a concurrent
invalidation without refusing fills because *other* keys changed.  The
per-key record is bounded: past ``RECENT_LIMIT`` keys it is dropped and
``floor`` moves up, which refuses the fills under way, never keeps stale data.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

logger = logging.getLogger("spotify_cache.near_cache")

CONNECTION_NAME = "spotify-cache-tracking"
RECENT_LIMIT = 65536
Listener = Callable[[Iterable[str] | None], None]

_trackers: dict[tuple[int, str, str], Tracker] = {}
_trackers_lock = threading.Lock()


class Tracker:
    """Listens for invalidations of keys under ``prefix`` on the server at ``url``."""

    def __init__(self, url: str, prefix: str, *, timeout: float = 0.25) -> None:
        self.url, self.prefix, self.timeout = url, prefix, timeout
        self.epoch = 0
        self.floor = 0
        self.healthy = False
        self._recent: dict[str, int] = {}
        self.lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"spotify-cache-tracking:{prefix}", daemon=True
        )
        self._thread.start()

    @classmethod
    def for_prefix(cls, url: str, prefix: str) -> Tracker:
        """The process-wide tracker for ``(url, prefix)``, started on first use."""
        ident = (os.getpid(), url, prefix)
        with _trackers_lock:
            tracker = _trackers.get(ident)
            if tracker is None:
                tracker = _trackers[ident] = cls(url, prefix)
            return tracker

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(keys)`` on each invalidation (``None``: drop everything)."""
        with self.lock:
            self._listeners.append(listener)

    def wait_ready(self, timeout: float) -> bool:
        """Block until the first connection is tracking (tests, start-up)."""
        return self._ready.wait(timeout)

    @contextmanager
    def fresh(self, epoch: int) -> Iterator[Callable[[str], bool]]:
        """Hold the lock; yield a test of whether a key fetched at ``epoch`` is still valid."""
        with self.lock:
            if not self.healthy or self.floor > epoch:
                yield lambda key: False
            else:
                yield lambda key: self._recent.get(key, -1) <= epoch

    def bump(self, keys: Iterable[str] | None) -> None:
        """Record a local write, so that fetches under way do not keep stale data."""
        with self.lock:
            self._record(keys)

    def _record(self, keys: Iterable[str] | None) -> None:
        self.epoch += 1
        if keys is None or len(self._recent) > RECENT_LIMIT:
            self._recent.clear()
            self.floor = self.epoch
        if keys is not None:
            for key in keys:
                self._recent[key] = self.epoch

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    # -- the listener thread -----------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            try:
                self._listen(self._connect())
                backoff = 0.05
            except (redis.RedisError, OSError) as exc:
                if self.healthy:
                    logger.warning("near-cache tracking lost: %s", type(exc).__name__)
            self._invalidate(None, healthy=False)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 2.0)

    def _connect(self) -> Any:
        pool = redis.ConnectionPool.from_url(
            self.url, protocol=3, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
        )
        conn: Any = pool.make_connection()
        conn.connect()
        conn._parser.set_invalidation_push_handler(self._on_push)
        conn.send_command("CLIENT", "SETNAME", CONNECTION_NAME)
        conn.read_response()
        conn.send_command("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", self.prefix)
        if conn.read_response() not in (b"OK", "OK"):
            raise redis.ConnectionError("CLIENT TRACKING refused")
        self._invalidate(None, healthy=True)
        self._ready.set()
        return conn

    def _listen(self, conn: Any) -> None:
        try:
            idle = 0.0
            while not self._stop.is_set():
                if conn.can_read(timeout=0.5):
                    conn.read_response(push_request=True)
                    idle = 0.0
                    continue
                idle += 0.5
                if idle >= 5.0:  # a silent connection may be a dead one
                    conn.send_command("PING")
                    conn.read_response(push_request=True)
                    idle = 0.0
        finally:
            conn.disconnect()

    def _on_push(self, message: list[Any]) -> None:
        keys = message[1] if len(message) > 1 else None
        decoded = (
            None if keys is None else [k.decode() if isinstance(k, bytes) else k for k in keys]
        )
        self._invalidate(decoded, healthy=True)

    def _invalidate(self, keys: list[str] | None, *, healthy: bool) -> None:
        with self.lock:
            self._record(keys)
            self.healthy = healthy
            for listener in self._listeners:
                listener(keys)


def stop_trackers() -> None:
    """Stop every tracker of this process (test teardown, orderly shutdown)."""
    with _trackers_lock:
        trackers = list(_trackers.values())
        _trackers.clear()
    for tracker in trackers:  # signal all, then wait: each notices within half a second
        tracker._stop.set()
    for tracker in trackers:
        tracker.stop()


def literal_prefix(pattern: str) -> str:
    """The fixed start of a Redis glob (unescaped), for BCAST tracking."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char in "*?[":
            break
        out.append(next(chars, "") if char == "\\" else char)
    return "".join(out)
