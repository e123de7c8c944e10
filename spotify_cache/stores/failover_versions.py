"""The version records of a remote store behind its fail-open breaker.

While the breaker is closed every call goes to the remote's table (on Redis,
``redis_versions.RedisVersions``).  While it is open, the records are those
of the outage (``circuit.Outage.records``: tokens acquired during it, in
this process), so values written to the fallback read back and nothing the
remote holds is trusted; ``drop`` is logged and replayed on recovery, before
the remote's records are read again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import replay
from .circuit import TRANSPORT, Failover
from .versions import Versions


class FailoverVersions(Versions):
    """The remote's version records behind the same ``Failover``: while it is
    skipped, records are those of the outage (tokens acquired during it, in
    process), so values written to the fallback read back and nothing the
    remote holds does; drops are logged and replayed on recovery."""

    def __init__(self, inner: Versions, failover: Failover) -> None:
        super().__init__()
        self.inner = inner
        self.failover = failover

    def __getattr__(self, name: str) -> Any:
        """The wrapped table's own attributes (``tracker``) read through."""
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def valid_stamp(self, body: bytes) -> bool:
        failover = self.failover
        if failover.up:
            try:
                return self.inner.valid_stamp(body)
            except TRANSPORT as exc:
                return failover.failed(exc, None).records.valid_stamp(body)
        inner = self.inner
        return failover.call(
            lambda: inner.valid_stamp(body), lambda o: o.records.valid_stamp(body), None
        )

    def valid(self, records: Sequence[tuple[str, bytes]]) -> bool:
        return self._call(lambda v: v.valid(records))

    def forget_copies(self) -> None:
        self.inner.forget_copies()
        self.changed()

    def current(self, names: Sequence[str]) -> list[bytes | None]:
        return self._call(lambda v: v.current(names))

    def acquire(self, names: Sequence[str], ttl: float | None) -> list[bytes]:
        return self._call(lambda v: v.acquire(names, ttl))

    def drop(self, names: Iterable[str]) -> None:
        names = list(names)
        self._call(lambda v: v.drop(names), replay.records(self.inner, names))

    def _call(self, op: Callable[[Versions], Any], entry: replay.Entry | None = None) -> Any:
        inner = self.inner
        return self.failover.call(lambda: op(inner), lambda o: op(o.records), entry)

    async def acurrent(self, names: Sequence[str]) -> list[bytes | None]:
        return await self._acall(lambda v: v.acurrent(names))

    async def aacquire(self, names: Sequence[str], ttl: float | None) -> list[bytes]:
        return await self._acall(lambda v: v.aacquire(names, ttl))

    async def adrop(self, names: Iterable[str]) -> None:
        names = list(names)
        await self._acall(lambda v: v.adrop(names), replay.records(self.inner, names))

    async def _acall(self, op: Callable[[Versions], Any], entry: replay.Entry | None = None) -> Any:
        inner = self.inner
        return await self.failover.acall(lambda: op(inner), lambda o: op(o.records), entry)
