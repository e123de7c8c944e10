"""The store's hottest commands, sent straight on a pooled connection.

``redis.Redis.execute_command`` wraps every call in instrumentation, event
dispatch, a retry closure and a response-callback lookup; on loopback that is
about a tenth of a cache read.  ``Wire`` takes a connection from the same pool,
sends one command, reads the raw reply and gives the connection back.  On a
connection error or timeout the connection is dropped (a late reply must never
answer the next command) and the command is sent again, on a connection the
pool hands out afresh (with Sentinel, one that asked the sentinels where the
primary is now), after a short jittered backoff: ``retries`` times at most and
only while the call's deadline (``deadline.py``) leaves time for it.  It serves
GET, MGET, SET and UNLINK: idempotent, so a retry after a timeout is safe, and
their raw replies need no parsing.  Everything else goes through the redis-py
client.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import redis
from redis.backoff import AbstractBackoff

from . import deadline

#: The errors redis-py's own ``Retry`` retries by default.
RETRYABLE = (redis.ConnectionError, redis.TimeoutError, socket.timeout)


class Wire:
    """One command at a time on connections from ``pool``."""

    def __init__(
        self,
        pool: redis.ConnectionPool,
        retries: int,
        backoff: AbstractBackoff,
        seconds: float | None = None,
    ) -> None:
        self.pool = pool
        self.retries = retries
        self.backoff = backoff
        self.seconds = seconds  # the call's budget, when no scope is open yet

    def execute(self, *args: Any) -> Any:
        """Send ``args`` as one command; its raw reply (``ResponseError`` raised)."""
        token = deadline.enter(self.seconds)
        try:
            return self._attempt(args)
        except RETRYABLE as error:
            return self._retry(args, error)
        finally:
            deadline.leave(token)

    def _attempt(self, args: tuple[Any, ...]) -> Any:
        pool = self.pool
        conn = pool.get_connection()
        try:
            return _exchange(conn, args)
        finally:
            pool.release(conn)

    def _retry(self, args: tuple[Any, ...], error: Exception) -> Any:
        for failures in range(1, self.retries + 1):
            pause = self.backoff.compute(failures)
            left = deadline.remaining()
            if left is not None and left <= pause:
                break
            time.sleep(pause)
            try:
                return self._attempt(args)
            except RETRYABLE as exc:
                error = exc
        raise error


def _exchange(conn: Any, args: tuple[Any, ...]) -> Any:
    """One command and its reply; on anything but an error reply the connection
    is dropped, since a reply may still be on its way."""
    try:
        conn.send_command(*args)
        return conn.read_response()
    except redis.ResponseError:  # an error reply, read whole: the connection is in step
        raise
    except BaseException:
        conn.disconnect()
        raise
