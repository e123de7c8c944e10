"""One deadline per store call: ``SOCKET_TIMEOUT x (1 + RETRIES)``, everything included.

redis-py retries at two levels that multiply: a command is retried, and each
retry reconnects, and the connection's set-up (connect, then the handshake's
commands) is retried again.  Against a server that accepts connections and
never answers, one call with one retry cost four socket timeouts.  Here the
store opens a *scope* per call; inside it

* every wait on a socket (connect, send, each read) is cut to what is left
  (give or take ``SLACK``, 5 ms),
* a retry happens only if time is left for it, after its backoff,
* a wait for a free pooled connection is cut to what is left,

so the whole call, connection set-up, handshake, retries, backoff, a wait for
a pooled connection and Sentinel discovery included, fails within the budget.
Outside a store call (a raw client from ``get_client()``, a SCAN page) each
command's retry opens its own scope.  The async store uses ``asyncio.timeout``
at the same boundary (``redis.asyncio`` drops a connection whose read is
cancelled), and async retries stop at the deadline too.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import cache
from queue import Empty, Full
from typing import Any, TypeVar

import redis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import AbstractBackoff
from redis.retry import Retry
from redis.utils import SENTINEL

T = TypeVar("T")
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "spotify_cache_deadline", default=None
)


def budget(socket_timeout: float | None, retries: int) -> float | None:
    """The time one call may take: every attempt gets one socket timeout."""
    return None if socket_timeout is None else socket_timeout * (1 + retries)


def remaining() -> float | None:
    """Seconds left in the current scope (``None``: no scope, no deadline)."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def enter(seconds: float | None) -> Any:
    """Open a scope ending ``seconds`` from now, unless an enclosing one ends sooner
    (nested retries never extend a call); pass what it returns to ``leave``.  The
    store's hot path calls these two rather than the ``scope`` context manager."""
    if seconds is None:
        return None
    deadline, current = time.monotonic() + seconds, _deadline.get()
    if current is not None and current <= deadline:
        return None
    return _deadline.set(deadline)


def leave(token: Any) -> None:
    """Close the scope ``enter`` opened (``None``: it opened none)."""
    if token is not None:
        _deadline.reset(token)


@contextmanager
def scope(seconds: float | None) -> Iterator[None]:
    """Everything inside shares one deadline ``seconds`` from now (see ``enter``)."""
    token = enter(seconds)
    try:
        yield
    finally:
        leave(token)


#: How much later than the deadline a socket wait may end rather than be cut.
SLACK = 0.005


def cut(timeout: float | None) -> float | None:
    """The shorter wait the deadline calls for instead of ``timeout``, or ``None``
    when ``timeout`` will do (no scope, or it ends within ``SLACK`` of the deadline);
    ``TimeoutError`` if the deadline has passed."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise redis.TimeoutError("the call's deadline passed")
    return left if timeout is None or left < timeout - SLACK else None


def _time_for(pause: float) -> bool:
    left = remaining()
    return left is None or left > pause


class BudgetRetry(Retry):
    """redis-py's ``Retry``, within the scope's deadline (its own when none is open)."""

    def __init__(self, backoff: AbstractBackoff, retries: int, seconds: float | None) -> None:
        super().__init__(backoff, retries)
        self.seconds = seconds

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        token = enter(self.seconds)
        try:
            failures = 0
            while True:
                try:
                    return do()
                except self._supported_errors as error:
                    if is_retryable and not is_retryable(error):
                        raise
                    failures += 1
                    fail(error, failures) if with_failure_count else fail(error)
                    pause = self._backoff.compute(failures)
                    if failures > self._retries or not _time_for(pause):
                        raise
                    time.sleep(pause)
        finally:
            leave(token)


class AsyncBudgetRetry(AsyncRetry):
    """The async twin: attempts stop at the deadline; with no scope open, one is
    opened here and enforced with ``asyncio.timeout``."""

    def __init__(self, backoff: AbstractBackoff, retries: int, seconds: float | None) -> None:
        super().__init__(backoff, retries)
        self.seconds = seconds

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        if self.seconds is None or _deadline.get() is not None:
            return await self._attempts(do, fail, is_retryable, with_failure_count)
        async with async_scope(self.seconds):
            return await self._attempts(do, fail, is_retryable, with_failure_count)

    async def _attempts(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None,
        with_failure_count: bool,
    ) -> T:
        failures = 0
        while True:
            try:
                return await do()
            except self._supported_errors as error:
                if is_retryable and not is_retryable(error):
                    raise
                failures += 1
                await (fail(error, failures) if with_failure_count else fail(error))
                pause = self._backoff.compute(failures)
                if failures > self._retries or not _time_for(pause):
                    raise
                await asyncio.sleep(pause)


class async_scope:
    """``scope`` for a coroutine, enforced by ``asyncio.timeout``; expiry raises
    ``redis.TimeoutError`` so it is wrapped like any other timeout."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._timeout: Any = None
        self._token: Any = None

    async def __aenter__(self) -> None:
        if self.seconds is None:
            return
        left = remaining()
        seconds = self.seconds if left is None else min(self.seconds, left)
        self._token = _deadline.set(time.monotonic() + seconds)
        self._timeout = asyncio.timeout(seconds)
        await self._timeout.__aenter__()

    async def __aexit__(self, kind: Any, error: Any, tb: Any) -> None:
        if self._timeout is None:
            return
        try:
            await self._timeout.__aexit__(kind, error, tb)
        except TimeoutError as exc:
            raise redis.TimeoutError("the call's deadline passed") from exc
        finally:
            _deadline.reset(self._token)


class _Waiter:
    """A thread waiting for a connection; a released one is handed to it directly."""

    __slots__ = ("event", "item")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.item: Any = None


class DeadlineQueue:
    """The queue of a ``BlockingConnectionPool``: free connections last-in first-out
    (warm ones first), waiting threads first-come first-served, and a wait that ends
    at the deadline (or the pool's ``timeout``, if sooner).

    ``queue.LifoQueue`` lets the thread that releases a connection take it straight
    back while others wait: under contention a waiter starved past its timeout.
    Here a released connection goes to the longest waiter."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.queue: list[Any] = []  # read by redis-py's pool for its metrics
        self._waiters: deque[_Waiter] = deque()
        self._lock = threading.Lock()

    def put_nowait(self, item: Any) -> None:
        with self._lock:
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.item = item
                waiter.event.set()
                return
            if len(self.queue) >= self.maxsize:
                raise Full
            self.queue.append(item)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        with self._lock:
            if self.queue:
                return self.queue.pop()
            if not block:
                raise Empty
            waiter = _Waiter()
            self._waiters.append(waiter)
        left = remaining()
        if left is not None:
            timeout = max(0.0, left if timeout is None else min(timeout, left))
        if waiter.event.wait(timeout):
            return waiter.item
        with self._lock:
            if waiter.event.is_set():  # handed over as the wait ended
                return waiter.item
            self._waiters.remove(waiter)
        raise Empty


class _DeadlineConnection:
    """Mixed into a redis-py connection class: socket waits end at the deadline.

    Cutting a wait costs two system calls (set the socket's timeout, then set it
    back), so a wait is cut only when the deadline is nearer than the socket's own
    timeout by more than ``SLACK``: on the first attempt of a call with a retry
    left, nothing is cut."""

    socket_timeout: float | None
    socket_connect_timeout: float | None
    _sock: Any

    def _connect(self) -> Any:
        configured = self.socket_connect_timeout
        shorter = cut(configured)
        if shorter is None:
            return super()._connect()  # type: ignore[misc]
        self.socket_connect_timeout = shorter
        try:
            return super()._connect()  # type: ignore[misc]
        finally:
            self.socket_connect_timeout = configured

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        sock = self._sock
        shorter = None if sock is None or _deadline.get() is None else cut(self.socket_timeout)
        if shorter is None:
            return super().send_packed_command(command, check_health)  # type: ignore[misc]
        sock.settimeout(shorter)
        try:
            return super().send_packed_command(command, check_health)  # type: ignore[misc]
        finally:
            if self._sock is sock:
                sock.settimeout(self.socket_timeout)

    def read_response(self, *args: Any, timeout: Any = SENTINEL, **kwargs: Any) -> Any:
        if timeout is SENTINEL and _deadline.get() is not None:
            shorter = cut(self.socket_timeout)
            if shorter is not None:
                timeout = shorter
        return super().read_response(*args, timeout=timeout, **kwargs)  # type: ignore[misc]


@cache
def connection_class(base: type) -> type:
    """``base`` (a redis-py sync connection class) with socket waits cut at the deadline."""
    return type(f"Deadline{base.__name__}", (_DeadlineConnection, base), {})
