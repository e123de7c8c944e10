"""Fail-open over one remote store: its breaker, replay log and outage stores.

One ``Failover`` per process per remote (store class, location, namespace),
shared by every ``FailoverStore`` wrapping that remote (one per thread's
backend) and by its version-records wrapper, so that every thread sees one
breaker and every change made during an outage lands in one log.

``call(remote, local, entry)`` runs ``remote()`` while the breaker is
closed; when it fails, or while the breaker is open, it answers with
``local(outage)`` instead (the fallback store or the outage's version
records) and, for a write, logs ``entry``.  The decision to skip the remote
and the logging happen under one lock, so a change is either replayed or
made while the remote was being used.

The probe: the first call after ``PROBE_INTERVAL`` replays the log (markers
over the keys, drops of the records, the globs, or a ``clear()``), then
makes its own call on the remote, then replays whatever other threads
logged meanwhile and closes only once the log is empty; the outage's stores
are then replaced by empty ones.  A read made by the probe while other
threads logged changes answers from the fallback: the remote may not have
had those changes yet when it read.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..codecs.framing import TOMBSTONE
from ..exceptions import StoreError, StoreUnavailable
from . import replay
from .base import Store
from .breaker import CLOSED, OPEN, PROBE, SKIP, Breaker, Change
from .versions import Versions

T = TypeVar("T")
logger = logging.getLogger("spotify_cache.reliability")

#: What a remote store raises when it fails: its wrapped errors, or a socket
#: error that escaped the wrapping.
TRANSPORT = (StoreError, OSError)
_BATCH = 500
#: Rounds a probe replays what other threads log meanwhile before it gives up
#: (writes arriving faster than they replay) and opens again.
CATCH_UP_ROUNDS = 8
Listener = Callable[["Failover", Change], None]


def is_transport(exc: BaseException) -> bool:
    """Whether ``exc`` says the remote failed, rather than that the store refused
    the call by itself (a ``StoreError`` raised without a cause, such as
    ``clear()`` on a cache whose keys cannot be globbed), which is re-raised."""
    if not isinstance(exc, StoreError):
        return True
    return isinstance(exc, StoreUnavailable) or exc.__cause__ is not None


def describe(exc: BaseException) -> str:
    """An error as a short code: type names only, never a message (it may hold a key)."""
    cause = exc.__cause__
    return type(exc).__name__ if cause is None else f"{type(exc).__name__} ({type(cause).__name__})"


class Outage:
    """What answers while the remote is skipped; replaced by a new one at each close."""

    def __init__(self, fallback: Store) -> None:
        self.fallback = fallback
        self.records: Versions = fallback.versions("", "")


class Failover:
    """Breaker, replay log and outage stores of one remote; ``up`` is the fast-path test."""

    def __init__(
        self,
        store: Store,
        *,
        breaker: Breaker,
        fallback: Callable[[], Store],
        replay_limit: int,
        grace: float,
        location: str,
        on_change: Listener | None = None,
    ) -> None:
        self.store = store  # replays go through it
        self.breaker = breaker
        self.up = True
        self.lock = threading.Lock()
        self.log = replay.ReplayLog(replay_limit)
        self._fallback = fallback
        self.outage = Outage(fallback())
        self.grace = grace
        self.location = location
        self.namespace = store.namespace
        self._on_change = on_change

    # -- decisions (short, under the lock) ---------------------------------------------------
    def admit(self, entry: replay.Entry | None) -> tuple[str, Outage]:
        """``REMOTE``, ``PROBE`` or ``SKIP`` (then ``entry`` is logged), and the outage."""
        with self.lock:
            verdict, change = self.breaker.admit()
            overflowed = verdict == SKIP and entry is not None and self.log.add(entry)
            outage = self.outage
        self._after(change, overflowed)
        return verdict, outage

    def failed(
        self, exc: BaseException, entry: replay.Entry | None, *, probe: bool = False
    ) -> Outage:
        """A remote call failed: count it (a write opens at once), log ``entry``;
        the outage to answer from.  Re-raises what is not a transport failure."""
        if not is_transport(exc):
            if probe:
                self._abandon()
            raise exc
        with self.lock:
            change = self.breaker.failure(describe(exc), at_once=entry is not None, probe=probe)
            self.up = self.breaker.state == CLOSED
            overflowed = entry is not None and self.log.add(entry)
            outage = self.outage
        self._after(change, overflowed)
        return outage

    def _take(self) -> replay.ReplayLog:
        with self.lock:
            taken, self.log = self.log, replay.ReplayLog(self.log.limit)
        return taken

    def _give_back(self, taken: replay.ReplayLog) -> None:
        with self.lock:
            overflowed = self.log.merge(taken)
        self._after(None, overflowed)

    def _close_if_done(self) -> tuple[bool, replay.ReplayLog | None]:
        """Close if nothing is left to replay; else take what is left."""
        with self.lock:
            if self.log:
                taken, self.log = self.log, replay.ReplayLog(self.log.limit)
                return False, taken
            change = self.breaker.success()
            if self.breaker.state == CLOSED:
                self.outage = Outage(self._fallback())
                self.up = True
        self._after(change, False)
        return True, None

    def _abandon(self, reason: str = "probe abandoned") -> None:
        with self.lock:
            change = self.breaker.abandon(reason)
        self._after(change, False)

    # -- calls -------------------------------------------------------------------------------
    def call(
        self, remote: Callable[[], T], local: Callable[[Outage], T], entry: replay.Entry | None
    ) -> T:
        """``remote()``, or ``local(outage)`` when the remote is skipped or fails."""
        if self.up:
            try:
                return remote()
            except TRANSPORT as exc:
                return local(self.failed(exc, entry))
        verdict, outage = self.admit(entry)
        if verdict == SKIP:
            return local(outage)
        if verdict == PROBE:
            return self._probe(remote, local, entry, outage)
        try:
            return remote()
        except TRANSPORT as exc:
            return local(self.failed(exc, entry))

    def _probe(
        self,
        remote: Callable[[], T],
        local: Callable[[Outage], T],
        entry: replay.Entry | None,
        outage: Outage,
    ) -> T:
        taken = self._take()
        try:
            self._replay(taken)
        except TRANSPORT as exc:
            self._give_back(taken)
            return local(self.failed(exc, entry, probe=True))
        except BaseException:
            self._give_back(taken)
            self._abandon()
            raise
        try:
            result = remote()
        except TRANSPORT as exc:
            return local(self.failed(exc, entry, probe=True))
        except BaseException:
            self._abandon()
            raise
        raced = self._finish()
        if raced is None:  # the remote failed again while replaying what came meanwhile
            return result if entry is not None else local(outage)
        return local(outage) if raced and entry is None else result

    def _finish(self) -> bool | None:
        """Replay what other threads logged during the probe, then close; whether
        there was any (``None``: the breaker is open again, the replay having failed
        or not caught up with the writes in ``CATCH_UP_ROUNDS`` rounds)."""
        raced = False
        for _ in range(CATCH_UP_ROUNDS):
            done, taken = self._close_if_done()
            if done or taken is None:
                return raced
            raced = True
            try:
                self._replay(taken)
            except TRANSPORT as exc:
                self._give_back(taken)
                self.failed(exc, None, probe=True)
                return None
            except BaseException:
                self._give_back(taken)
                self._abandon()
                raise
        self._abandon("replay did not catch up")
        return None

    def _replay(self, taken: replay.ReplayLog) -> None:
        store, marker = self.store, TOMBSTONE + os.urandom(8)
        if taken.clear:
            self._step(store.clear)
            return
        for table, names in taken.records.values():
            for chunk in _chunks(names):
                self._step(lambda: table.drop(chunk))  # noqa: B023 - called at once
        for glob in sorted(taken.patterns):
            self._step(lambda: store.delete_matching(glob))  # noqa: B023
        for chunk in _chunks(taken.keys):
            self._step(lambda: store.set_many(dict.fromkeys(chunk, marker), self.grace))  # noqa: B023

    def _step(self, step: Callable[[], Any]) -> None:
        """One replay step; a refusal by the store itself (not a transport failure,
        which is raised: the replay is tried again) is logged and skipped."""
        try:
            step()
        except StoreError as exc:
            self._refused(exc)

    def _refused(self, exc: StoreError) -> None:
        if is_transport(exc):
            raise exc
        logger.error(
            "cache circuit for %s: the store refused a replay step (%s); values changed "
            "during the outage may be served until their TTL",
            self.location,
            describe(exc),
        )

    # -- async ---------------------------------------------------------------------------------
    async def acall(
        self,
        remote: Callable[[], Awaitable[T]],
        local: Callable[[Outage], Awaitable[T]],
        entry: replay.Entry | None,
    ) -> T:
        """``call`` for coroutines."""
        if self.up:
            try:
                return await remote()
            except TRANSPORT as exc:
                return await local(self.failed(exc, entry))
        verdict, outage = self.admit(entry)
        if verdict == SKIP:
            return await local(outage)
        if verdict == PROBE:
            return await self._aprobe(remote, local, entry, outage)
        try:
            return await remote()
        except TRANSPORT as exc:
            return await local(self.failed(exc, entry))

    async def _aprobe(
        self,
        remote: Callable[[], Awaitable[T]],
        local: Callable[[Outage], Awaitable[T]],
        entry: replay.Entry | None,
        outage: Outage,
    ) -> T:
        taken = self._take()
        try:
            await self._areplay(taken)
        except TRANSPORT as exc:
            self._give_back(taken)
            return await local(self.failed(exc, entry, probe=True))
        except BaseException:  # cancelled: another call probes later
            self._give_back(taken)
            self._abandon()
            raise
        try:
            result = await remote()
        except TRANSPORT as exc:
            return await local(self.failed(exc, entry, probe=True))
        except BaseException:
            self._abandon()
            raise
        raced = await self._afinish()
        if raced is None:
            return result if entry is not None else await local(outage)
        return await local(outage) if raced and entry is None else result

    async def _afinish(self) -> bool | None:
        raced = False
        for _ in range(CATCH_UP_ROUNDS):
            done, taken = self._close_if_done()
            if done or taken is None:
                return raced
            raced = True
            try:
                await self._areplay(taken)
            except TRANSPORT as exc:
                self._give_back(taken)
                self.failed(exc, None, probe=True)
                return None
            except BaseException:
                self._give_back(taken)
                self._abandon()
                raise
        self._abandon("replay did not catch up")
        return None

    async def _areplay(self, taken: replay.ReplayLog) -> None:
        store, marker = self.store, TOMBSTONE + os.urandom(8)
        if taken.clear:
            await self._astep(store.aclear())
            return
        for table, names in taken.records.values():
            for chunk in _chunks(names):
                await self._astep(table.adrop(chunk))
        for glob in sorted(taken.patterns):
            self._step(lambda: store.delete_matching(glob))  # noqa: B023 - no async twin; rare
        for chunk in _chunks(taken.keys):
            await self._astep(store.aset_many(dict.fromkeys(chunk, marker), self.grace))

    async def _astep(self, step: Awaitable[Any]) -> None:
        try:
            await step
        except StoreError as exc:
            self._refused(exc)

    # -- announcing ----------------------------------------------------------------------------
    def _after(self, change: Change | None, overflowed: bool) -> None:
        if overflowed:
            logger.warning(
                "cache circuit for %s: replay log overflowed; this cache's keys will be "
                "cleared on recovery",
                self.location,
            )
        if change is None:
            return
        level = logging.DEBUG  # probes come and go every PROBE_INTERVAL while down
        if change.new == OPEN and change.old == CLOSED:
            level = logging.WARNING
        elif change.new == CLOSED:
            level = logging.INFO
        logger.log(
            level,
            "cache circuit for %s %s -> %s (%s)",
            self.location,
            change.old,
            change.new,
            change.reason,
            extra={"circuit_old": change.old, "circuit_new": change.new},
        )
        if self._on_change is not None:
            self._on_change(self, change)


def _chunks(items: Any) -> list[list[str]]:
    ordered = sorted(items)
    return [ordered[i : i + _BATCH] for i in range(0, len(ordered), _BATCH)]
