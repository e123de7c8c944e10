"""Redis URLs and connection arguments, checked the way redis-py will read them.

redis-py raises a bare ``ValueError`` for ``redis://host:notaport``, reads
``redis://host/abc`` as database 0 without a word, and accepts any keyword in
``CONNECTION_POOL_KWARGS`` until the first connection fails with a
``TypeError``.  These checks run at start-up (and in ``manage.py check``) and
raise ``ValueError`` naming ``LOCATION`` or the option instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.connection import URL_QUERY_ARGUMENT_PARSERS, parse_url

#: Pool arguments the store sets itself (options of their own, or its choice of class).
_OWN = frozenset({"connection_class", "retry", "queue_class", "timeout", "cache_factory"})
_POOL_ARGS = frozenset({"max_connections", "maint_notifications_config"})


@cache
def accepted_kwargs(connection_class: type) -> frozenset[str]:
    """The keyword arguments ``connection_class`` (and its bases, through ``**kwargs``) accept."""
    names: set[str] = set()
    for klass in connection_class.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names.update(
            p.name for p in params if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD
        )
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return frozenset(names - {"self", "connection_pool"})


def check_urls(urls: Sequence[str], pool_kwargs: Mapping[str, Any]) -> None:
    """Each URL parses, with an integer port and database, and ``pool_kwargs``
    (``CONNECTION_POOL_KWARGS``) are arguments its connection class takes."""
    for url in urls:
        check_url(url)
        _check_pool_kwargs(url, pool_kwargs)


def check_url(url: str) -> None:
    """``ValueError`` naming ``LOCATION`` if redis-py would refuse or misread ``url``."""
    try:
        parts = urlsplit(url)
        port = parts.port if parts.scheme != "unix" else None
        parse_url(url)
    except ValueError as exc:
        raise ValueError(f"LOCATION {url!r} is not a valid Redis URL: {exc}") from None
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"LOCATION {url!r}: port {port} is out of range")
    path = unquote(parts.path).strip("/")
    in_path = parts.scheme != "unix" and "db" not in parse_qs(parts.query)
    if in_path and path and not path.isdigit():  # redis-py would silently use database 0
        raise ValueError(
            f"LOCATION {url!r}: the database must be a number (redis://host:port/0), not {path!r}"
        )


def _check_pool_kwargs(url: str, pool_kwargs: Mapping[str, Any]) -> None:
    base = parse_url(url).get("connection_class", redis.Connection)
    allowed = (accepted_kwargs(base) | _POOL_ARGS) - _OWN
    refused = sorted(set(pool_kwargs) & _OWN)
    if refused:
        raise ValueError(
            f'OPTIONS["CONNECTION_POOL_KWARGS"] {refused} are set by the store '
            "(the connection class follows the URL scheme; use RETRIES and SOCKET_TIMEOUT)"
        )
    unknown = sorted(set(pool_kwargs) - allowed - set(URL_QUERY_ARGUMENT_PARSERS))
    if unknown:
        raise ValueError(
            f'OPTIONS["CONNECTION_POOL_KWARGS"] {unknown} are not arguments of '
            f"{base.__name__} for LOCATION {url!r}"
        )
