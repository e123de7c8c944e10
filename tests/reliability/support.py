"""Helpers of the reliability tests: a server that never answers, options that raise."""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import threading
from typing import Any

import pytest

from tests import redis_server


def raising(**options: Any) -> dict[str, Any]:
    """``OPTIONS`` of a cache whose transport errors raise ``StoreUnavailable``: with the
    fail-open wrapper (``stores/failover.py``) where it exists, switched off."""
    if importlib.util.find_spec("spotify_cache.stores.failover") is not None:
        return {"FAIL_OPEN": False, **options}
    return options


def need_redis_server() -> None:
    """These tests start their own servers: skip (fail under CI) without ``redis-server``."""
    if redis_server.available():
        return
    if redis_server.in_ci():
        pytest.fail("redis-server is needed")
    pytest.skip("redis-server is needed")


class Mute:
    """A TCP listener on loopback that accepts connections and never replies: a hung Redis."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.sock.close()
        for conn in self.accepted:
            conn.close()
