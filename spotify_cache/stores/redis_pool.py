"""Connection pools for the Redis store: one per process per configuration.

redis-py's own defaults (5 s timeouts, several retries) turn a hung server into
requests that hang for many seconds; a cache should fail in a fraction of a
second and let the caller fall back, so the defaults here are explicit and short.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Mapping
from typing import Any

import redis
import redis.asyncio as aredis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from . import option_checks

DEFAULTS: dict[str, Any] = {
    "SOCKET_CONNECT_TIMEOUT": 0.25,
    "SOCKET_TIMEOUT": 0.25,
    "RETRIES": 1,
    "MAX_CONNECTIONS": 64,
    "HEALTH_CHECK_INTERVAL": 30,
    "CONNECTION_POOL_KWARGS": {},
}

_sync_pools: dict[tuple[Any, ...], redis.ConnectionPool] = {}
_async_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, Any]] = (
    weakref.WeakKeyDictionary()
)
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


def pool_kwargs(options: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``ConnectionPool.from_url`` from cache ``OPTIONS``."""
    opts = {**DEFAULTS, **{k: v for k, v in options.items() if k in DEFAULTS}}
    kwargs = {
        "socket_connect_timeout": opts["SOCKET_CONNECT_TIMEOUT"],
        "socket_timeout": opts["SOCKET_TIMEOUT"],
        "max_connections": opts["MAX_CONNECTIONS"],
        "health_check_interval": opts["HEALTH_CHECK_INTERVAL"],
        "retries": int(opts["RETRIES"]),
    }
    kwargs.update(opts["CONNECTION_POOL_KWARGS"])
    return kwargs


def backoff() -> ExponentialWithJitterBackoff:
    """The pause before a retry: 5 ms doubling, jittered, at most 50 ms."""
    return ExponentialWithJitterBackoff(base=0.005, cap=0.05)


def _retry(retries: int, asynchronous: bool) -> Any:
    if asynchronous:
        from redis.asyncio.retry import Retry as AsyncRetry

        return AsyncRetry(backoff(), retries)
    return Retry(backoff(), retries)


def _identity(url: str, kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    return (os.getpid(), url, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))


def sync_client(url: str, kwargs: Mapping[str, Any]) -> redis.Redis:
    """A client on this process's shared pool for ``url``."""
    ident = _identity(url, kwargs)
    with _lock:
        pool = _sync_pools.get(ident)
        if pool is None:
            pool = _sync_pools[ident] = _make_pool(redis.ConnectionPool, url, kwargs, False)
    return redis.Redis(connection_pool=pool)


def async_client(url: str, kwargs: Mapping[str, Any]) -> aredis.Redis:
    """A client on the running event loop's pool for ``url`` (pools are loop-bound)."""
    loop = asyncio.get_running_loop()
    ident = _identity(url, kwargs)
    per_loop = _async_pools.setdefault(loop, {})
    client = per_loop.get(ident)
    if client is None:
        pool = _make_pool(aredis.ConnectionPool, url, kwargs, True)
        client = per_loop[ident] = aredis.Redis(connection_pool=pool)
    return client


def _make_pool(pool_cls: Any, url: str, kwargs: Mapping[str, Any], asynchronous: bool) -> Any:
    kwargs = dict(kwargs)
    retry = _retry(kwargs.pop("retries"), asynchronous)
    return pool_cls.from_url(url, retry=retry, **kwargs)


def reset_pools() -> None:
    """Disconnect and forget every sync pool of this process (tests, after fork)."""
    with _lock:
        for pool in _sync_pools.values():
            pool.disconnect()
        _sync_pools.clear()
