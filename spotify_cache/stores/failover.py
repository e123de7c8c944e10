"""Fail-open: a remote store behind a circuit breaker, with an in-process fallback.

``OPTIONS["FAIL_OPEN"]`` (default ``True``) wraps every remote store the
backend opens (Redis, near-cache, cluster, a store named by dotted path; not
the memory store, which cannot be unreachable) in a ``FailoverStore``.  While
the remote answers, a call costs one attribute test more.  When it fails
(``StoreUnavailable``, a timeout, an error reply) nothing raises: reads miss,
or return what this process wrote during the outage (``fallback``), writes
go to the fallback with a capped TTL, and the breaker (``breaker``) opens so
that the next calls skip the remote entirely.  Every write, delete and
invalidation made meanwhile is logged (``replay``) and replayed before the
remote serves again (``circuit``), so an older value it still holds never
reappears.  ``FAIL_OPEN: False`` leaves the store unwrapped: errors raise
``StoreUnavailable`` as before.  See docs/failover.md.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from . import option_checks, replay
from .base import Store
from .breaker import Breaker, Change
from .circuit import TRANSPORT, Failover
from .failover_versions import FailoverVersions
from .fallback import FallbackStore, Nowhere
from .memory import MemoryStore
from .versions import Versions

#: ``OPTIONS`` names read here (the backend accepts them for every store).
OPTION_NAMES = frozenset({"FAIL_OPEN", "FALLBACK", "BREAKER", "REPLAY_LIMIT"})
FALLBACK_DEFAULTS: dict[str, Any] = {"MAX_ENTRIES": 1000, "TTL": 30.0}
BREAKER_DEFAULTS: dict[str, Any] = {
    "FAILURES": 1,
    "WINDOW": 10.0,
    "PROBE_INTERVAL": 0.5,
    "TIMER": None,
}
REPLAY_LIMIT = 10000
#: Seconds replayed keys keep their invalidation marker (``INVALIDATION_GRACE``).
GRACE = 60.0

_shared: dict[tuple[Any, ...], Failover] = {}
_shared_lock = threading.Lock()


# -- options -----------------------------------------------------------------------------
def check_options(options: Mapping[str, Any]) -> None:
    """``ValueError`` naming the first bad fail-open option."""
    if not isinstance(options.get("FAIL_OPEN", True), bool):
        raise ValueError(
            f'OPTIONS["FAIL_OPEN"] must be True or False, not {options["FAIL_OPEN"]!r}'
        )
    option_checks.number(options, "REPLAY_LIMIT", minimum=0, integer=True)
    fallback = options.get("FALLBACK", {})
    if fallback is not None and fallback is not False:
        _check_dict("FALLBACK", fallback, FALLBACK_DEFAULTS)
        option_checks.number(
            fallback, "MAX_ENTRIES", minimum=1, integer=True, within=_in("FALLBACK")
        )
        option_checks.number(fallback, "TTL", minimum=0.001, within=_in("FALLBACK"))
    breaker = options.get("BREAKER", {})
    _check_dict("BREAKER", breaker, BREAKER_DEFAULTS)
    option_checks.number(breaker, "FAILURES", minimum=1, integer=True, within=_in("BREAKER"))
    option_checks.number(breaker, "WINDOW", minimum=0.001, within=_in("BREAKER"))
    option_checks.number(breaker, "PROBE_INTERVAL", minimum=0.001, within=_in("BREAKER"))
    timer = breaker.get("TIMER")
    if timer is not None and not callable(timer):
        raise ValueError(f'OPTIONS["BREAKER"]["TIMER"] must be a callable, not {timer!r}')


def _in(name: str) -> str:
    return f'OPTIONS["{name}"]'


def _check_dict(name: str, value: Any, defaults: Mapping[str, Any]) -> None:
    if not isinstance(value, Mapping) or set(value) - set(defaults):
        raise ValueError(f'OPTIONS["{name}"] must be a dict with keys among {sorted(defaults)}')


def _settings(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    breaker = {**BREAKER_DEFAULTS, **(options.get("BREAKER") or {})}
    fallback = options.get("FALLBACK", {})
    if fallback is None or fallback is False:
        return breaker, None
    return breaker, {**FALLBACK_DEFAULTS, **fallback}


# -- wiring ---------------------------------------------------------------------------------
def wrap(store: Store, options: Mapping[str, Any]) -> Store:
    """``store`` behind fail-open, as ``OPTIONS`` asks (the backend calls this on
    every store it opens); the memory store and ``FAIL_OPEN: False`` stay as they are."""
    if isinstance(store, MemoryStore | FailoverStore) or not options.get("FAIL_OPEN", True):
        return store
    return FailoverStore(store, _failover_for(store, options))


def _failover_for(store: Store, options: Mapping[str, Any]) -> Failover:
    """One ``Failover`` per process per remote and fail-open settings."""
    mine = sorted((k, repr(v)) for k, v in options.items() if k in OPTION_NAMES)
    grace = options.get("INVALIDATION_GRACE", GRACE)
    ident = (os.getpid(), type(store), str(store.location), store.namespace, tuple(mine), grace)
    with _shared_lock:
        failover = _shared.get(ident)
        if failover is None:
            failover = _shared[ident] = build_failover(store, options)
        return failover


def build_failover(store: Store, options: Mapping[str, Any]) -> Failover:
    """A new ``Failover`` for ``store`` (``wrap`` shares one per remote)."""
    breaker_opts, fallback_opts = _settings(options)
    clock: Callable[[], float] = breaker_opts["TIMER"] or time.monotonic
    breaker = Breaker(
        failures=int(breaker_opts["FAILURES"]),
        window=float(breaker_opts["WINDOW"]),
        probe_interval=float(breaker_opts["PROBE_INTERVAL"]),
        clock=clock,
    )
    return Failover(
        store,
        breaker=breaker,
        fallback=_fallback_factory(fallback_opts, clock),
        replay_limit=int(options.get("REPLAY_LIMIT", REPLAY_LIMIT)),
        grace=float(options.get("INVALIDATION_GRACE", GRACE)),
        location=redact(store.location),
        on_change=_send_signal,
    )


def _fallback_factory(
    settings: Mapping[str, Any] | None, clock: Callable[[], float]
) -> Callable[[], Store]:
    if settings is None:
        return Nowhere
    size, cap = int(settings["MAX_ENTRIES"]), float(settings["TTL"])
    return lambda: FallbackStore(size, cap, clock)


def redact(location: Any) -> str:
    """A location fit for logs: scheme, host, port and path; no user, password or query."""
    text = str(location)
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable location>"
    if not parts.scheme:
        return text.split("?", 1)[0].rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _send_signal(failover: Failover, change: Change) -> None:
    from ..signals import circuit_changed  # Django's dispatcher: stores stay free of it

    circuit_changed.send(
        sender=FailoverStore,
        location=failover.location,
        namespace=failover.namespace,
        store=type(failover.store).__name__,
        old=change.old,
        new=change.new,
        reason=change.reason,
    )


# -- the store ------------------------------------------------------------------------------
class FailoverStore(Store):
    """``primary`` behind the shared ``Failover`` of its remote."""

    def __init__(self, primary: Store, failover: Failover) -> None:
        super().__init__(primary.location, {}, namespace=primary.namespace)
        self.primary = primary
        self.failover = failover

    def __getattr__(self, name: str) -> Any:
        """The wrapped store's own attributes (a near-cache's ``tracker``, ``local``)
        read through, for introspection; every ``Store`` method is the guarded one."""
        if name == "primary":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.primary, name)

    @property
    def remote(self) -> Store:
        """The store the backend's routing and key ownership look at: the
        primary's own remote (a near-cache's Redis store), else the primary."""
        return getattr(self.primary, "remote", self.primary)

    @property
    def state(self) -> str:
        """The breaker's state: ``closed``, ``open`` or ``half_open``."""
        return self.failover.breaker.state

    def client(self, write: bool = True) -> Any:
        client: Callable[..., Any] | None = getattr(self.primary, "client", None)
        if client is None:
            raise NotImplementedError(f"{type(self.primary).__name__} has no raw client")
        return client(write)

    def _read(self, op: Callable[[Store], Any]) -> Any:
        primary = self.primary
        return self.failover.call(lambda: op(primary), lambda o: op(o.fallback), None)

    def _write(self, op: Callable[[Store], Any], entry: replay.Entry) -> Any:
        primary = self.primary
        return self.failover.call(lambda: op(primary), lambda o: op(o.fallback), entry)

    # -- the hottest calls, without a closure while the breaker is closed ----------------------
    def get(self, key: str) -> bytes | None:
        if self.failover.up:
            try:
                return self.primary.get(key)
            except TRANSPORT as exc:
                return self.failover.failed(exc, None).fallback.get(key)
        return self._read(lambda s: s.get(key))

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if self.failover.up:
            try:
                return self.primary.get_many(keys)
            except TRANSPORT as exc:
                return self.failover.failed(exc, None).fallback.get_many(keys)
        return self._read(lambda s: s.get_many(keys))

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        if self.failover.up:
            try:
                return self.primary.set(key, value, ttl)
            except TRANSPORT as exc:
                return self.failover.failed(exc, replay.keys(key)).fallback.set(key, value, ttl)
        self._write(lambda s: s.set(key, value, ttl), replay.keys(key))

    def delete(self, key: str) -> bool:
        if self.failover.up:
            try:
                return self.primary.delete(key)
            except TRANSPORT as exc:
                return self.failover.failed(exc, replay.keys(key)).fallback.delete(key)
        return self._write(lambda s: s.delete(key), replay.keys(key))

    # -- reads ---------------------------------------------------------------------------------
    def get_for_update(self, key: str) -> bytes | None:
        return self._read(lambda s: s.get_for_update(key))

    def ttl(self, key: str) -> float | None:
        return self._read(lambda s: s.ttl(key))

    def iter_keys(self, pattern: str) -> Iterator[str]:
        """The remote's keys, or while it is skipped the fallback's; a listing cut
        short by a failure ends early (fail-open, like a read)."""
        if not self.failover.up:
            return self.failover.outage.fallback.iter_keys(pattern)
        return self._listed(self.primary.iter_keys(pattern))

    def _listed(self, keys: Iterator[str]) -> Iterator[str]:
        try:
            yield from keys
        except TRANSPORT as exc:
            self.failover.failed(exc, None)

    def versions(self, head: str, tail: str) -> Versions:
        """The primary's version records behind the same breaker (``failover_versions``)."""
        return FailoverVersions(self.primary.versions(head, tail), self.failover)

    # -- writes --------------------------------------------------------------------------------
    def set_many(self, items: Mapping[str, bytes], ttl: float | None) -> None:
        self._write(lambda s: s.set_many(items, ttl), replay.key_list(list(items)))

    def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        return self._write(lambda s: s.add(key, value, ttl), replay.keys(key))

    def set_if_unchanged(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None
    ) -> bool:
        op = lambda s: s.set_if_unchanged(key, expected, value, ttl)  # noqa: E731
        return self._write(op, replay.keys(key))

    def compare_and_set(self, key: str, expected: bytes, value: bytes) -> bool:
        op = lambda s: s.compare_and_set(key, expected, value)  # noqa: E731
        return self._write(op, replay.keys(key))

    def touch(self, key: str, ttl: float | None) -> bool:
        # A new TTL on the remote's value leaves it no staler; only an expiring touch is a delete.
        if ttl is not None and ttl <= 0:
            return self._write(lambda s: s.touch(key, ttl), replay.keys(key))
        return self._read(lambda s: s.touch(key, ttl))

    def delete_many(self, keys: Sequence[str]) -> int:
        return self._write(lambda s: s.delete_many(keys), replay.key_list(keys))

    def delete_matching(self, pattern: str) -> int:
        return self._write(lambda s: s.delete_matching(pattern), replay.pattern(pattern))

    def clear(self) -> None:
        self._write(lambda s: s.clear(), replay.CLEARED)

    def close(self) -> None:
        with contextlib.suppress(*TRANSPORT):  # best effort; the next call finds out
            self.primary.close()

    # -- async -----------------------------------------------------------------------------------
    async def _aread(self, op: Callable[[Store], Any]) -> Any:
        primary = self.primary
        return await self.failover.acall(lambda: op(primary), lambda o: op(o.fallback), None)

    async def _awrite(self, op: Callable[[Store], Any], entry: replay.Entry) -> Any:
        primary = self.primary
        return await self.failover.acall(lambda: op(primary), lambda o: op(o.fallback), entry)

    async def aget(self, key: str) -> bytes | None:
        return await self._aread(lambda s: s.aget(key))

    async def aget_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return await self._aread(lambda s: s.aget_many(keys))

    async def aget_for_update(self, key: str) -> bytes | None:
        return await self._aread(lambda s: s.aget_for_update(key))

    async def aset(self, key: str, value: bytes, ttl: float | None) -> None:
        await self._awrite(lambda s: s.aset(key, value, ttl), replay.keys(key))

    async def aset_many(self, items: Mapping[str, bytes], ttl: float | None) -> None:
        await self._awrite(lambda s: s.aset_many(items, ttl), replay.key_list(list(items)))

    async def aadd(self, key: str, value: bytes, ttl: float | None) -> bool:
        return await self._awrite(lambda s: s.aadd(key, value, ttl), replay.keys(key))

    async def aset_if_unchanged(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None
    ) -> bool:
        op = lambda s: s.aset_if_unchanged(key, expected, value, ttl)  # noqa: E731
        return await self._awrite(op, replay.keys(key))

    async def acompare_and_set(self, key: str, expected: bytes, value: bytes) -> bool:
        op = lambda s: s.acompare_and_set(key, expected, value)  # noqa: E731
        return await self._awrite(op, replay.keys(key))

    async def atouch(self, key: str, ttl: float | None) -> bool:
        if ttl is not None and ttl <= 0:
            return await self._awrite(lambda s: s.atouch(key, ttl), replay.keys(key))
        return await self._aread(lambda s: s.atouch(key, ttl))

    async def adelete(self, key: str) -> bool:
        return await self._awrite(lambda s: s.adelete(key), replay.keys(key))

    async def adelete_many(self, keys: Sequence[str]) -> int:
        return await self._awrite(lambda s: s.adelete_many(keys), replay.key_list(keys))

    async def aclear(self) -> None:
        await self._awrite(lambda s: s.aclear(), replay.CLEARED)

    async def aclose(self) -> None:
        with contextlib.suppress(*TRANSPORT):
            await self.primary.aclose()
