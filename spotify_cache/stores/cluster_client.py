"""Clients of a Redis Cluster for the cluster store: one per process per configuration.

``LOCATION`` names one or more startup nodes (``redis://`` or ``rediss://``,
database 0 only); the client discovers the others and follows the topology
(MOVED/ASK redirects, failovers).  The connection options are the Redis
store's (``redis_pool``), applied to every node's pool; ``RETRIES`` is the
number of times a command is tried again after refreshing the topology.

The sync client is built on first use, not at start-up (its constructor
talks to the cluster), so a cluster that is down surfaces as
``StoreUnavailable`` on the calls, never as a cache that cannot be built.

Async clients belong to one event loop.  Each running loop gets its own,
kept in a ``WeakKeyDictionary`` keyed by the loop, and closed (``aclose``)
when that loop shuts down: a parked async generator registered with the
loop is finalised by ``loop.shutdown_asyncgens()``, which ``asyncio.run``,
asgiref's ``async_to_sync`` and uvicorn call before closing the loop.  A
loop closed without it leaves its client to the garbage collector; the entry
is dropped the next time any loop asks for a client.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import suppress
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio.cluster as acluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ClusterDownError, RedisClusterException, TryAgainError
from redis.retry import Retry

from ..exceptions import StoreError, StoreUnavailable
from . import redis_pool

T = TypeVar("T")
P = ParamSpec("P")
SCHEMES = ("redis", "rediss")
#: What redis-py raises for a cluster it cannot reach or route (not all are ``RedisError``).
UNAVAILABLE = (
    redis.ConnectionError,
    redis.TimeoutError,
    ClusterDownError,
    TryAgainError,
    RedisClusterException,
)
ERRORS = (redis.RedisError, RedisClusterException)

_sync_clients: dict[tuple[Any, ...], RedisCluster] = {}
_sync_lock = threading.Lock()
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients] = (
    weakref.WeakKeyDictionary()
)


# -- errors ------------------------------------------------------------------------------
def wrap(exc: BaseException) -> StoreError:
    """The store error for a redis-py cluster error."""
    if isinstance(exc, UNAVAILABLE):
        return StoreUnavailable(f"redis cluster unavailable: {type(exc).__name__}")
    return StoreError(f"redis cluster error: {exc}")


def wraps_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Turn redis-py errors into ``StoreError`` once, here at the boundary."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except ERRORS as exc:
            raise wrap(exc) from exc

    return wrapper


def wraps_async_errors(
    func: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """The async twin of ``wraps_errors``."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await func(*args, **kwargs)
        except ERRORS as exc:
            raise wrap(exc) from exc

    return wrapper


# -- locations ---------------------------------------------------------------------------
def check_locations(urls: Sequence[str]) -> None:
    """``ValueError`` unless ``urls`` are startup nodes of one cluster: ``redis://`` or
    ``rediss://`` with a host, database 0, and the same scheme and credentials."""
    if not urls:
        raise ValueError("LOCATION must name at least one cluster node (redis://host:port)")
    first = urlsplit(urls[0])
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ValueError(f"LOCATION {url!r}: a cluster node is redis://host:port or rediss://")
        if parts.path.strip("/") not in ("", "0"):
            raise ValueError(f"LOCATION {url!r}: Redis Cluster has database 0 only")
        if (parts.scheme, parts.username, parts.password) != (
            first.scheme,
            first.username,
            first.password,
        ):
            raise ValueError("LOCATION: every cluster node needs the same scheme and credentials")


def addresses(urls: Sequence[str]) -> list[tuple[str, int]]:
    """``(host, port)`` of each URL: the nodes a client discovers the cluster from."""
    return [(urlsplit(u).hostname or "", urlsplit(u).port or 6379) for u in urls]


def node_url(template: str, host: str, port: int) -> str:
    """``template`` (a startup node's URL) pointed at another node: same scheme,
    credentials and query."""
    parts = urlsplit(template)
    auth = parts.netloc.rpartition("@")[0]
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    netloc = f"{auth}@{where}" if auth else where
    return urlunsplit((parts.scheme, netloc, "", parts.query, ""))


def identity(urls: Sequence[str]) -> str:
    """A name for the cluster behind ``urls`` (process-wide tables are keyed by it)."""
    return "cluster+" + ",".join(sorted(urls))


# -- clients -----------------------------------------------------------------------------
def client_kwargs(options: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for the cluster clients from cache ``OPTIONS``."""
    kwargs = redis_pool.pool_kwargs(options)
    kwargs["require_full_coverage"] = False  # the slots that are served, are served
    return kwargs


def _key(urls: Sequence[str], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    return (os.getpid(), tuple(urls), tuple(sorted((k, repr(v)) for k, v in kwargs.items())))


def sync_client(urls: Sequence[str], kwargs: Mapping[str, Any]) -> RedisCluster:
    """This process's client of the cluster (built, and the topology read, on first call)."""
    ident = _key(urls, kwargs)
    client = _sync_clients.get(ident)
    if client is not None:
        return client
    with _sync_lock:
        client = _sync_clients.get(ident)
        if client is None:
            options = dict(kwargs)
            retry = Retry(redis_pool.backoff(), options.pop("retries"))
            extra = [ClusterNode(h, p) for h, p in addresses(urls[1:])]
            client = RedisCluster(url=urls[0], startup_nodes=extra, retry=retry, **options)
            _sync_clients[ident] = client
        return client


class _LoopClients:
    """The async clients of one event loop, closed when the loop shuts down."""

    def __init__(self) -> None:
        self.clients: dict[tuple[Any, ...], acluster.RedisCluster] = {}
        self.closer: AsyncIterator[None] | None = None

    async def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Park an async generator with ``loop``: its shutdown closes the clients."""
        self.closer = self._close_at_shutdown(loop)
        await self.closer.__anext__()

    async def _close_at_shutdown(self, loop: asyncio.AbstractEventLoop) -> AsyncIterator[None]:
        try:
            yield
        finally:
            _async_clients.pop(loop, None)
            clients, self.clients = list(self.clients.values()), {}
            for client in clients:
                with suppress(Exception):
                    await client.aclose()


async def async_client(urls: Sequence[str], kwargs: Mapping[str, Any]) -> acluster.RedisCluster:
    """The running loop's client of the cluster (the topology is read on first command)."""
    loop = asyncio.get_running_loop()
    per_loop = _async_clients.get(loop)
    if per_loop is None:
        _forget_closed_loops()
        per_loop = _async_clients[loop] = _LoopClients()
        await per_loop.watch(loop)
    ident = _key(urls, kwargs)
    client = per_loop.clients.get(ident)
    if client is None:
        options = dict(kwargs)
        retry = AsyncRetry(redis_pool.backoff(), options.pop("retries"))
        extra = [acluster.ClusterNode(h, p) for h, p in addresses(urls[1:])]
        client = acluster.RedisCluster.from_url(
            urls[0], startup_nodes=extra, retry=retry, **options
        )
        per_loop.clients[ident] = client
    return client


def _forget_closed_loops() -> None:
    for loop in [loop for loop in list(_async_clients) if loop.is_closed()]:
        _async_clients.pop(loop, None)


def reset_clients() -> None:
    """Close and forget every sync client of this process (tests, after fork)."""
    with _sync_lock:
        clients = list(_sync_clients.values())
        _sync_clients.clear()
    for client in clients:
        with suppress(Exception):
            client.close()
