"""The store's hottest commands, sent straight on a pooled connection.

``redis.Redis.execute_command`` wraps every call in instrumentation, event
dispatch, a retry closure and a response-callback lookup; on loopback that is
about a tenth of a cache read.  ``Wire`` takes a connection from the same pool,
sends one command, reads the raw reply and gives the connection back, with the
same bounded retry the pool's clients use: on a connection error or timeout the
connection is dropped (a late reply must never answer the next command) and
the command is sent again after a short jittered backoff, ``retries`` times at
most.  It serves GET, MGET, SET and UNLINK: idempotent, so a retry after a
timeout is safe, and their raw replies need no parsing.  Everything else goes
through the redis-py client.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import redis
from redis.backoff import AbstractBackoff

#: The errors redis-py's own ``Retry`` retries by default.
RETRYABLE = (redis.ConnectionError, redis.TimeoutError, socket.timeout)


class Wire:
    """One command at a time on connections from ``pool``."""

    def __init__(self, pool: redis.ConnectionPool, retries: int, backoff: AbstractBackoff) -> None:
        self.pool = pool
        self.retries = retries
        self.backoff = backoff

    def execute(self, *args: Any) -> Any:
        """Send ``args`` as one command; its raw reply (``ResponseError`` raised)."""
        pool = self.pool
        conn = pool.get_connection()
        try:
            return _exchange(conn, args)
        except RETRYABLE as error:
            return self._retry(conn, args, error)
        finally:
            pool.release(conn)

    def _retry(self, conn: Any, args: tuple[Any, ...], error: Exception) -> Any:
        for failures in range(1, self.retries + 1):
            time.sleep(self.backoff.compute(failures))
            try:
                return _exchange(conn, args)
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
