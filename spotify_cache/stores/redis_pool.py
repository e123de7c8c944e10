"""Connection pools for the Redis store: one per process per configuration.

redis-py's own defaults (5 s timeouts, several retries) turn a hung server into
requests that hang for many seconds; a cache should fail in a fraction of a
second and let the caller fall back, so the defaults here are explicit and short,
and one call never takes longer than ``SOCKET_TIMEOUT x (1 + RETRIES)``
(``deadline.py``).  Pools block briefly for a free connection instead of
failing at once when ``MAX_CONNECTIONS`` are busy.

Async pools belong to an event loop.  Under a WSGI server Django runs every
async view on a new loop, so a loop's pools are disconnected when the loop
shuts down (``asyncio.run`` and asgiref close their async generators first),
and pools of loops closed some other way are dropped on the next lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import redis
import redis.asyncio as aredis
from redis.backoff import ExponentialWithJitterBackoff
from redis.connection import parse_url

from . import deadline, option_checks, redis_config, sentinel

DEFAULTS: dict[str, Any] = {
    "SOCKET_CONNECT_TIMEOUT": 0.25,
    "SOCKET_TIMEOUT": 0.25,
    "RETRIES": 1,
    "MAX_CONNECTIONS": 64,
    "HEALTH_CHECK_INTERVAL": 30,
    "CONNECTION_POOL_KWARGS": {},
}
#: Every option the Redis store's connections read.
OPTION_NAMES = frozenset({*DEFAULTS, *sentinel.OPTION_NAMES})
Clients = tuple[redis.Redis, list[redis.Redis]]

_sync_pools: dict[tuple[Any, ...], Clients] = {}
_async_pools: dict[asyncio.AbstractEventLoop, _LoopClients] = {}
_lock = threading.Lock()


def check_options(options: Mapping[str, Any]) -> None:
    """``ValueError`` naming the first bad connection option."""
    for name in ("SOCKET_CONNECT_TIMEOUT", "SOCKET_TIMEOUT"):
        option_checks.number(options, name, minimum=0.001, optional=True)
    option_checks.number(options, "RETRIES", minimum=0, integer=True)
    option_checks.number(options, "MAX_CONNECTIONS", minimum=1, integer=True)
    option_checks.number(options, "HEALTH_CHECK_INTERVAL", minimum=0)
    extra = options.get("CONNECTION_POOL_KWARGS", {})
    if not isinstance(extra, Mapping):
        raise ValueError(f'OPTIONS["CONNECTION_POOL_KWARGS"] must be a dict, not {extra!r}')
    if extra.get("decode_responses"):
        raise ValueError(
            'OPTIONS["CONNECTION_POOL_KWARGS"]["decode_responses"] must be off: '
            "the store keeps sealed bytes, which are not text"
        )
    sentinel.check_options(options)


def pool_kwargs(options: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for the pools from cache ``OPTIONS`` (``retries`` and, with
    Sentinel, ``sentinels`` are taken out again when a pool is made)."""
    opts = {**DEFAULTS, **{k: v for k, v in options.items() if k in DEFAULTS}}
    kwargs = {
        "socket_connect_timeout": opts["SOCKET_CONNECT_TIMEOUT"],
        "socket_timeout": opts["SOCKET_TIMEOUT"],
        "max_connections": opts["MAX_CONNECTIONS"],
        "health_check_interval": opts["HEALTH_CHECK_INTERVAL"],
        "retries": int(opts["RETRIES"]),
    }
    kwargs.update(opts["CONNECTION_POOL_KWARGS"])
    if sentinel.enabled(options):
        kwargs["sentinels"] = sentinel.settings(options)
    return kwargs


def call_budget(kwargs: Mapping[str, Any]) -> float | None:
    """The most one call may take with these pool ``kwargs`` (``None``: no timeout)."""
    return deadline.budget(kwargs.get("socket_timeout"), kwargs["retries"])


def backoff() -> ExponentialWithJitterBackoff:
    """The pause before a retry: 5 ms doubling, jittered, at most 50 ms."""
    return ExponentialWithJitterBackoff(base=0.005, cap=0.05)


def _identity(urls: Sequence[str], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    return (os.getpid(), tuple(urls), tuple(sorted((k, repr(v)) for k, v in kwargs.items())))


def sync_clients(urls: Sequence[str], kwargs: Mapping[str, Any]) -> Clients:
    """The primary's client and the replicas' clients, on this process's shared pools."""
    ident = _identity(urls, kwargs)
    with _lock:
        clients = _sync_pools.get(ident)
        if clients is None:
            clients = _sync_pools[ident] = _make_sync_clients(urls, kwargs)
    return clients


def _make_sync_clients(urls: Sequence[str], kwargs: Mapping[str, Any]) -> Clients:
    settings, common = _split(kwargs)
    if settings is not None:
        return sentinel.sync_clients(urls[0], settings, common)
    clients = [redis.Redis(connection_pool=_sync_pool(url, common)) for url in urls]
    return clients[0], clients[1:]


def _split(kwargs: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(the Sentinel settings or ``None``, the pool arguments with retry objects)."""
    common = dict(kwargs)
    settings = common.pop("sentinels", None)
    retries, seconds = common.pop("retries"), call_budget(kwargs)
    common["retry"] = deadline.BudgetRetry(backoff(), retries, seconds)
    common["async_retry"] = deadline.AsyncBudgetRetry(backoff(), retries, seconds)
    common["timeout"] = common.get("socket_timeout")  # the wait for a free connection
    return settings, common


def sync_pool_kwargs(common: Mapping[str, Any], base: type) -> dict[str, Any]:
    """Arguments of a sync ``BlockingConnectionPool`` whose connections are ``base``'s."""
    kwargs = {k: v for k, v in common.items() if k != "async_retry"}
    kwargs["connection_class"] = deadline.connection_class(base)
    kwargs["queue_class"] = deadline.DeadlineQueue
    return kwargs


def async_pool_kwargs(common: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments of an async ``BlockingConnectionPool``."""
    kwargs = {k: v for k, v in common.items() if k not in ("retry", "async_retry")}
    kwargs["retry"] = common["async_retry"]
    return kwargs


def _sync_pool(url: str, common: Mapping[str, Any]) -> redis.BlockingConnectionPool:
    base = parse_url(url).get("connection_class", redis.Connection)
    return redis.BlockingConnectionPool.from_url(url, **sync_pool_kwargs(common, base))


def tracking_url(urls: Sequence[str], kwargs: Mapping[str, Any]) -> Callable[[], str] | None:
    """How the tracking connection finds the primary's URL, when it moves (Sentinel)."""
    settings = kwargs.get("sentinels")
    return None if settings is None else sentinel.master_url_resolver(urls[0], settings, kwargs)


# -- async ---------------------------------------------------------------------------
class _LoopClients:
    """The ``redis.asyncio`` clients of one event loop, disconnected when it shuts down."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.clients: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.closers: list[Callable[[], Awaitable[Any]]] = []
        self._shutdown = self._on_shutdown(loop)
        step: Any = self._shutdown.__anext__()
        with contextlib.suppress(StopIteration):  # run to its ``yield``: the loop now owns it
            step.send(None)  # and closes it when it shuts down

    async def _on_shutdown(self, loop: asyncio.AbstractEventLoop) -> AsyncIterator[None]:
        try:
            yield
        finally:
            with _lock:
                _async_pools.pop(loop, None)
            for close in self.closers:
                with contextlib.suppress(Exception):  # the loop is going away; nothing to tell
                    await close()


def _loop_clients() -> _LoopClients:
    loop = asyncio.get_running_loop()
    clients = _async_pools.get(loop)
    if clients is None:
        with _lock:
            for closed in [other for other in _async_pools if other.is_closed()]:
                del _async_pools[closed]  # closed without shutting down: let the GC close them
            clients = _async_pools[loop] = _LoopClients(loop)
    return clients


def async_client(urls: Sequence[str], kwargs: Mapping[str, Any], *, read: bool = False) -> Any:
    """The running loop's client of the primary, or of a random replica if ``read``."""
    per_loop = _loop_clients()
    ident = _identity(urls, kwargs)
    made = per_loop.clients.get(ident)
    if made is None:
        made = per_loop.clients[ident] = _make_async_clients(urls, kwargs, per_loop.closers)
    primary, replicas = made
    return random.choice(replicas) if read and replicas else primary


def _make_async_clients(
    urls: Sequence[str], kwargs: Mapping[str, Any], closers: list[Callable[[], Awaitable[Any]]]
) -> tuple[Any, list[Any]]:
    settings, common = _split(kwargs)
    if settings is not None:
        return sentinel.async_clients(urls[0], settings, common, closers)
    pools = [aredis.BlockingConnectionPool.from_url(u, **async_pool_kwargs(common)) for u in urls]
    closers.extend(pool.disconnect for pool in pools)
    clients = [aredis.Redis(connection_pool=pool) for pool in pools]
    return clients[0], clients[1:]


def reset_pools() -> None:
    """Disconnect and forget every sync pool of this process (tests, after fork)."""
    with _lock:
        for primary, replicas in _sync_pools.values():
            for client in (primary, *replicas):
                client.connection_pool.disconnect()
        _sync_pools.clear()


def check_location(urls: Sequence[str], options: Mapping[str, Any]) -> None:
    """``ValueError`` naming ``LOCATION`` or the option for a URL or keyword argument
    redis-py would refuse later (or misread silently)."""
    redis_config.check_urls(urls, options.get("CONNECTION_POOL_KWARGS") or {})
    if sentinel.enabled(options):
        sentinel.check_location(urls)
