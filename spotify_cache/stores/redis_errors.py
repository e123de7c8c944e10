"""The Redis stores' boundary: redis-py errors become ``StoreError`` once, here,
and each call gets its deadline (``deadline.py``) from the store's ``budget``.

``wraps_errors`` bounds the whole call; ``wraps_errors_per_command`` is for calls
of many commands (a SCAN loop), where each command has the deadline instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import redis

from ..exceptions import StoreError, StoreUnavailable
from . import deadline

T = TypeVar("T")
P = ParamSpec("P")


def _wrap(exc: redis.RedisError) -> StoreError:
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        # A refused connection sent nothing; a timeout or a dropped connection may
        # have delivered the command, which may then still run (on resume).
        sent = not _never_sent(exc)
        return StoreUnavailable(f"redis unavailable: {type(exc).__name__}", maybe_applied=sent)
    return StoreError(f"redis error: {exc}")


def _never_sent(exc: redis.RedisError) -> bool:
    text = str(exc)
    return (
        isinstance(exc, redis.ConnectionError)
        and not isinstance(exc, redis.TimeoutError)
        and ("Error connecting" in text or "refused" in text.lower())
    )


def wraps_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Turn redis-py errors into ``StoreError`` once, here at the boundary, and
    give the call its deadline (the store's ``budget``)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        token = deadline.enter(args[0].budget)  # type: ignore[attr-defined]
        try:
            return func(*args, **kwargs)
        except redis.RedisError as exc:
            raise _wrap(exc) from exc
        finally:
            deadline.leave(token)

    return wrapper


def wraps_errors_per_command(func: Callable[P, T]) -> Callable[P, T]:
    """``wraps_errors`` for calls of many commands (SCAN loops): each command,
    not the whole call, has the deadline."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except redis.RedisError as exc:
            raise _wrap(exc) from exc

    return wrapper


def wraps_async_errors(
    func: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """The async twin of ``wraps_errors``."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            async with deadline.async_scope(args[0].budget):  # type: ignore[attr-defined]
                return await func(*args, **kwargs)
        except redis.RedisError as exc:
            raise _wrap(exc) from exc

    return wrapper


def wraps_async_errors_per_command(
    func: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """The async twin of ``wraps_errors_per_command``."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await func(*args, **kwargs)
        except redis.RedisError as exc:
            raise _wrap(exc) from exc

    return wrapper
