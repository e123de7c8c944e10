"""Redis client-side-caching invalidations, one listener thread per process per prefix.

A dedicated RESP3 connection runs ``CLIENT TRACKING ON BCAST PREFIX <prefix>``:
Redis then pushes the name of every key under the prefix that anyone changes,
deletes, expires or evicts (``None`` for a flush).  Subscribers (near-caches)
drop those keys.  While the connection is down the tracker reports itself
unhealthy and subscribers must bypass their local copies; on every
(re)connect they are emptied, since invalidations may have been missed.

Keys stay bytes, as Redis sent them: anyone with access to the server can
write a key that is not UTF-8, and one such key must not cost the others in
the same push their invalidation.  Subscribers get str keys decoded with
``surrogateescape`` (lossless; a str key of this cache encodes back to the
same bytes).  Whatever fails while a push is handled empties the
subscribers instead, so an invalidation is never dropped.

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

    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        timeout: float = 0.25,
        resolve: Callable[[], str] | None = None,
    ) -> None:
        self.url, self.prefix, self.timeout = url, prefix, timeout
        self.resolve = resolve  # the server's URL at each (re)connect, when it moves (Sentinel)
        self.epoch = 0
        self.floor = 0
        self.healthy = False
        self._broken = False  # a subscriber could not be told: reconnect, which empties them
        self._recent: dict[bytes, int] = {}
        self.lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"spotify-cache-tracking:{prefix}", daemon=True
        )
        self._thread.start()

    @classmethod
    def for_prefix(cls, url: str, prefix: str, resolve: Callable[[], str] | None = None) -> Tracker:
        """The process-wide tracker for ``(url, prefix)``, started on first use."""
        ident = (os.getpid(), url, prefix)
        with _trackers_lock:
            tracker = _trackers.get(ident)
            if tracker is None:
                tracker = _trackers[ident] = cls(url, prefix, resolve=resolve)
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
            except Exception:  # a bug must not leave subscribers trusting stale copies
                logger.exception("near-cache tracking failed; reconnecting")
            self._invalidate(None, healthy=False)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 2.0)

    def _connect(self) -> Any:
        url = self.resolve() if self.resolve else self.url
        pool = redis.ConnectionPool.from_url(
            url, protocol=3, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
        )
        conn: Any = pool.make_connection()
        conn.connect()
        self._broken = False
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
            while not self._stop.is_set() and not self._broken:
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
        # redis-py logs and drops whatever a push handler raises: nothing may escape here.
        try:
            keys = pushed_keys(message)
        except Exception:
            logger.exception("unreadable invalidation push; emptying the near-caches")
            keys = None
        self._invalidate(keys, healthy=True)

    def _invalidate(self, keys: list[bytes] | None, *, healthy: bool) -> None:
        with self.lock:
            self._record(keys)
            names = None if keys is None else [text_key(key) for key in keys]
            told = all([_notify(listener, names) for listener in self._listeners])
            # Healthy only once every subscriber has dropped what it was told to.
            self.healthy = healthy and told
            self._broken = self._broken or not told


def _notify(listener: Listener, keys: list[str] | None) -> bool:
    """Call ``listener(keys)``, or else ``listener(None)``; whether either worked."""
    try:
        listener(keys)
        return True
    except Exception:
        logger.exception("near-cache invalidation failed; emptying the near-cache")
    if keys is None:
        return False
    try:
        listener(None)
        return True
    except Exception:
        logger.exception("emptying the near-cache failed; bypassing it until reconnected")
        return False


def pushed_keys(message: list[Any]) -> list[bytes] | None:
    """The keys of an ``invalidate`` push, as bytes; ``None`` means every key (a flush)."""
    keys = message[1] if len(message) > 1 else None
    if keys is None:
        return None
    return [key if isinstance(key, bytes) else wire_key(key) for key in keys]


def wire_key(key: str) -> bytes:
    """A str key as the bytes Redis holds: redis-py sends UTF-8, and keys that came
    from a push were decoded with ``surrogateescape``."""
    try:
        return key.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # lone surrogates: no such key reached Redis; stay total
        return key.encode("utf-8", "surrogatepass")


def text_key(key: bytes) -> str:
    """Redis's bytes key as the str a subscriber compares with its own keys."""
    return key.decode("utf-8", "surrogateescape")


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
