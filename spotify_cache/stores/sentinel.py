"""Redis Sentinel: the primary and replicas found through the sentinels, as in django-redis.

::

    "LOCATION": "redis://mymaster/0",          # the service name where the host goes
    "OPTIONS": {
        "SENTINELS": [("10.0.0.1", 26379), ("10.0.0.2", 26379), ("10.0.0.3", 26379)],
        "SENTINEL_KWARGS": {"password": "..."},  # for the sentinels themselves
        "SENTINEL_REPLICA_READS": True,          # get/get_many from a replica
    }

A connection asks the sentinels for the primary each time it connects, and
reconnects through them whenever it must reconnect: after a dropped
connection, and after a ``READONLY`` reply (the server it talks to was demoted;
redis-py turns that reply into a ``ConnectionError`` on a primary's
connection, so the store's retry runs against the new primary).  redis-py's
own ``SentinelManagedConnection`` reconnects a dropped connection to the last
address it knew, which is how clients keep writing to a demoted primary; the
classes here close that gap, sync and async.  The near-cache's and the version
records' tracking connection resolves the primary's URL through the same
sentinels each time it connects (``master_url_resolver``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aredis
import redis.asyncio.sentinel as asentinel
import redis.sentinel as rsentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.retry import Retry

from . import deadline

OPTION_NAMES = frozenset({"SENTINELS", "SENTINEL_KWARGS", "SENTINEL_REPLICA_READS"})
#: Arguments of a sentinel's own client that are ours to set.
_RESERVED = frozenset(
    {"host", "port", "retry", "connection_pool", "decode_responses", "single_connection_client"}
)

_managers: dict[tuple[Any, ...], rsentinel.Sentinel] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Settings:
    """What ``OPTIONS`` says about the sentinels (its ``repr`` keys the pools)."""

    sentinels: tuple[tuple[str, int], ...]
    kwargs: tuple[tuple[str, Any], ...]
    replica_reads: bool


def enabled(options: Mapping[str, Any]) -> bool:
    """Whether ``OPTIONS`` asks for Sentinel."""
    return options.get("SENTINELS") is not None


def settings(options: Mapping[str, Any]) -> Settings:
    """The validated ``SENTINEL*`` options."""
    pairs = tuple((str(host), int(port)) for host, port in options["SENTINELS"])
    extra = tuple(sorted((options.get("SENTINEL_KWARGS") or {}).items()))
    return Settings(pairs, extra, bool(options.get("SENTINEL_REPLICA_READS", False)))


# -- checks ---------------------------------------------------------------------------
def check_options(options: Mapping[str, Any]) -> None:
    """``ValueError`` naming the first bad ``SENTINEL*`` option."""
    if not enabled(options):
        extra = [f'OPTIONS["{name}"]' for name in sorted(OPTION_NAMES) if name in options]
        if extra:
            raise ValueError(f'{", ".join(extra)} only apply with OPTIONS["SENTINELS"]')
        return
    _check_sentinels(options["SENTINELS"])
    _check_sentinel_kwargs(options.get("SENTINEL_KWARGS", {}))
    reads = options.get("SENTINEL_REPLICA_READS", False)
    if not isinstance(reads, bool):
        raise ValueError(f'OPTIONS["SENTINEL_REPLICA_READS"] must be True or False, not {reads!r}')


def _check_sentinels(sentinels: Any) -> None:
    pairs = sentinels if isinstance(sentinels, list | tuple) else None
    ok = bool(pairs) and all(_is_address(pair) for pair in pairs or ())
    if not ok:
        raise ValueError(
            'OPTIONS["SENTINELS"] must be a non-empty list of (host, port) pairs, '
            f'such as [("127.0.0.1", 26379)], not {sentinels!r}'
        )


def _is_address(pair: Any) -> bool:
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        return False
    host, port = pair
    return isinstance(host, str) and bool(host) and isinstance(port, int) and 0 < port < 65536


def _check_sentinel_kwargs(extra: Any) -> None:
    from .redis_config import accepted_kwargs

    if not isinstance(extra, Mapping):
        raise ValueError(f'OPTIONS["SENTINEL_KWARGS"] must be a dict, not {extra!r}')
    allowed = accepted_kwargs(redis.Redis) - _RESERVED
    unknown = sorted(set(extra) - allowed)
    if unknown:
        raise ValueError(
            f'OPTIONS["SENTINEL_KWARGS"] {unknown} are not arguments of a sentinel connection; '
            "use password, username, socket_timeout, ssl, ssl_ca_certs, ..."
        )


def check_location(urls: Sequence[str]) -> None:
    """With Sentinel, ``LOCATION`` is one ``redis://`` or ``rediss://`` URL naming the service."""
    if len(urls) != 1 or not urls[0].startswith(("redis://", "rediss://")):
        raise ValueError(
            'LOCATION with OPTIONS["SENTINELS"] must be one URL, redis://<service name>/<db> '
            f"(replicas are found through the sentinels), not {urls!r}"
        )
    if not urlsplit(urls[0]).hostname:
        raise ValueError(f"LOCATION {urls[0]!r} must name the Sentinel service where the host goes")


# -- connections ----------------------------------------------------------------------
class SentinelConnection(rsentinel.SentinelManagedConnection):
    """Reconnects through the sentinels, never straight to the last address it knew."""

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self._sock:
            self.connect()
        super().send_packed_command(command, check_health)


class SentinelSSLConnection(SentinelConnection, redis.SSLConnection):
    """``SentinelConnection`` over TLS (``rediss://``)."""


class AsyncSentinelConnection(asentinel.SentinelManagedConnection):
    """The async twin of ``SentinelConnection``."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self.is_connected:
            await self.connect()
        await super().send_packed_command(command, check_health)


class AsyncSentinelSSLConnection(AsyncSentinelConnection, aredis.SSLConnection):
    """``AsyncSentinelConnection`` over TLS."""


class _Pool(rsentinel.SentinelConnectionPool, redis.BlockingConnectionPool):
    """Sentinel's pool, waiting briefly for a free connection like the store's others."""


class _AsyncPool(asentinel.SentinelConnectionPool, aredis.BlockingConnectionPool):
    """The async twin of ``_Pool``."""


# -- clients --------------------------------------------------------------------------
def _service(url: str) -> tuple[str, dict[str, Any], bool]:
    """The service name, the URL's other connection arguments, and whether TLS."""
    parsed = parse_url(url)
    service = parsed.pop("host")
    parsed.pop("port", None)
    tls = parsed.pop("connection_class", None) is not None
    return service, parsed, tls


def _sentinel_kwargs(config: Settings, common: Mapping[str, Any]) -> dict[str, Any]:
    timeouts = {k: common.get(k) for k in ("socket_timeout", "socket_connect_timeout")}
    return {**timeouts, **dict(config.kwargs)}


def _sync_manager(config: Settings, common: Mapping[str, Any]) -> rsentinel.Sentinel:
    """One ``Sentinel`` per process per configuration; each sentinel is asked once
    (no retries) and its socket waits end at the call's deadline."""
    kwargs = _sentinel_kwargs(config, common)
    ident = (os.getpid(), repr(config), repr(sorted(kwargs.items())))  # values may not hash
    with _lock:
        manager = _managers.get(ident)
        if manager is None:
            kwargs["retry"] = Retry(NoBackoff(), 0)
            manager = _managers[ident] = rsentinel.Sentinel(
                config.sentinels, sentinel_kwargs=kwargs
            )
            for client in manager.sentinels:
                pool = client.connection_pool
                pool.connection_class = deadline.connection_class(pool.connection_class)
    return manager


def sync_clients(
    url: str, config: Settings, common: Mapping[str, Any]
) -> tuple[redis.Redis, list[redis.Redis]]:
    """The primary's client and, with ``SENTINEL_REPLICA_READS``, the replicas' client."""
    from .redis_pool import sync_pool_kwargs

    service, url_kwargs, tls = _service(url)
    manager = _sync_manager(config, common)
    base = SentinelSSLConnection if tls else SentinelConnection
    kwargs = {**url_kwargs, **sync_pool_kwargs(common, base)}

    def client(is_master: bool) -> redis.Redis:
        pool = _Pool(service, manager, is_master=is_master, **kwargs)
        return redis.Redis(connection_pool=pool)

    return client(True), [client(False)] if config.replica_reads else []


def async_clients(
    url: str,
    config: Settings,
    common: Mapping[str, Any],
    closers: list[Callable[[], Awaitable[Any]]],
) -> tuple[aredis.Redis, list[aredis.Redis]]:
    """``sync_clients`` for the running event loop; what must be closed with the loop
    is appended to ``closers``."""
    from .redis_pool import async_pool_kwargs

    service, url_kwargs, tls = _service(url)
    sentinel_kwargs = {**_sentinel_kwargs(config, common), "retry": AsyncRetry(NoBackoff(), 0)}
    manager = asentinel.Sentinel(config.sentinels, sentinel_kwargs=sentinel_kwargs)
    closers.extend(client.aclose for client in manager.sentinels)
    kwargs = {**url_kwargs, **async_pool_kwargs(common)}
    kwargs["connection_class"] = AsyncSentinelSSLConnection if tls else AsyncSentinelConnection

    def client(is_master: bool) -> aredis.Redis:
        pool = _AsyncPool(service, manager, is_master=is_master, **kwargs)
        closers.append(pool.disconnect)
        return aredis.Redis(connection_pool=pool)

    return client(True), [client(False)] if config.replica_reads else []


def master_url_resolver(url: str, config: Settings, common: Mapping[str, Any]) -> Callable[[], str]:
    """A callable giving the URL of the current primary: ``url`` with the address the
    sentinels report in place of the service name (credentials, db and TLS kept)."""
    service = _service(url)[0]
    manager = _sync_manager(config, common)

    def resolve() -> str:
        host, port = manager.discover_master(service)
        return with_address(url, host, int(port))

    return resolve


def with_address(url: str, host: str, port: int) -> str:
    """``url`` pointing at ``host:port``."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    netloc = f"{userinfo}@{address}" if userinfo else address
    return urlunsplit(parts._replace(netloc=netloc))
