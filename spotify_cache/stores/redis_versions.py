"""Version records in Redis, with a tracked in-process copy.

Reads of records cost no round trip once warm: each process keeps the tokens
it has seen, and a client-side-tracking connection (``tracking.Tracker``, in
BCAST mode on the records' key prefix) drops a copy as soon as anyone changes,
deletes, expires or evicts its record.  While that connection is down the
copies are not trusted and records are read from Redis (one extra round trip).
Every command touches one key, so records work on Redis Cluster unchanged.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import redis

from .redis import _px, _wrap
from .tracking import Tracker
from .versions import _NEVER, Versions, lifetime, new_token

Local = dict[str, tuple[bytes, float]]
_shared: dict[tuple[int, str, str, str], RedisVersions] = {}
_shared_lock = threading.Lock()


def _deadline(now: float, pttl: int) -> float:
    return _NEVER if pttl == -1 else now + pttl / 1000


class RedisVersions(Versions):
    """Records under ``prefix + name + suffix`` on the primary of ``client``."""

    def __init__(
        self,
        client: redis.Redis,
        url: str,
        prefix: str,
        suffix: str,
        async_client: Any,
        resolve: Callable[[], str] | None = None,
    ) -> None:
        super().__init__()
        self._client = client
        self._async_client = async_client  # a callable: the loop's redis.asyncio client
        self.prefix, self.suffix = prefix, suffix
        self._local: Local = {}
        self.tracker = Tracker.for_prefix(url, prefix, resolve)
        self.tracker.subscribe(self._forget)

    @classmethod
    def shared(
        cls,
        client: redis.Redis,
        url: str,
        prefix: str,
        suffix: str,
        async_client: Callable[[], Any],
        resolve: Callable[[], str] | None = None,
    ) -> RedisVersions:
        """One table per process per (server, record keys), shared by every thread's backend."""
        ident = (os.getpid(), url, prefix, suffix)
        with _shared_lock:
            table = _shared.get(ident)
            if table is None:
                table = _shared[ident] = cls(client, url, prefix, suffix, async_client, resolve)
            return table

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}{self.suffix}"

    def trusted(self) -> bool:
        return self.tracker.healthy

    def _forget(self, keys: Iterable[str] | None) -> None:
        self.changed()
        if keys is None:
            self._local.clear()
            return
        head, tail = len(self.prefix), len(self.suffix)
        for key in keys:
            self._local.pop(key[head : len(key) - tail], None)

    # -- reads -------------------------------------------------------------------
    def current(self, names: Sequence[str]) -> list[bytes | None]:
        local = self._local if self.tracker.healthy else {}
        found = [local.get(name) for name in names]
        missing = [n for n, entry in zip(names, found, strict=True) if entry is None]
        if not missing:
            return [entry[0] for entry in found]  # type: ignore[index]
        fetched = self._fetch(missing)
        return [
            entry[0] if entry is not None else fetched.get(n)
            for n, entry in zip(names, found, strict=True)
        ]

    def valid(self, records: Sequence[tuple[str, bytes]]) -> bool:
        if self.tracker.healthy:
            local = self._local
            for name, token in records:
                entry = local.get(name)
                if entry is None:
                    break
                if entry[0] != token:
                    return False
            else:
                return True
        return super().valid(records)

    def _fetch(self, names: Sequence[str]) -> dict[str, bytes | None]:
        epoch = self.tracker.epoch
        try:
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.get(self.key(name))
                pipe.pttl(self.key(name))
            replies = pipe.execute()
        except redis.RedisError as exc:
            raise _wrap(exc) from exc
        return self._remember(epoch, names, replies)

    def _remember(self, epoch: int, names: Sequence[str], replies: list[Any]) -> dict[str, Any]:
        now, out = time.monotonic(), {}
        with self.tracker.fresh(epoch) as still_valid:
            for index, name in enumerate(names):
                token, pttl = replies[2 * index], replies[2 * index + 1]
                out[name] = token
                if token is not None and still_valid(self.key(name)):
                    self._local[name] = (token, _deadline(now, pttl))
        return out

    # -- writes ------------------------------------------------------------------
    def acquire(self, names: Sequence[str], ttl: float | None) -> list[bytes]:
        held = self._held(names, ttl)
        if len(held) == len(names):
            return [held[n] for n in names]
        needed = [n for n in names if n not in held]
        epoch = self.tracker.epoch
        replies = self._execute(lambda pipe: self._queue_acquire(pipe, needed, ttl))
        short = self._too_short(needed, replies, ttl)
        if short:
            self._execute(lambda pipe: self._queue_extend(pipe, short, ttl))
        return self._acquired(epoch, names, needed, held, replies)

    def _execute(self, queue: Callable[[Any], Any]) -> list[Any]:
        try:
            pipe = self._client.pipeline(transaction=False)
            queue(pipe)
            return pipe.execute()
        except redis.RedisError as exc:
            raise _wrap(exc) from exc

    def _held(self, names: Sequence[str], ttl: float | None) -> dict[str, bytes]:
        """Tokens known locally whose records already outlive a value of ``ttl``."""
        if not self.tracker.healthy:
            return {}
        until = time.monotonic() + (_NEVER if ttl is None else ttl)
        held = {}
        for name in names:
            entry = self._local.get(name)
            if entry is not None and entry[1] >= until:
                held[name] = entry[0]
        return held

    def _queue_acquire(self, pipe: Any, names: Sequence[str], ttl: float | None) -> None:
        """Create missing records (``SET NX``) and read them: nothing here changes
        an existing record, so nobody's tracked copy is invalidated by a write."""
        life = lifetime(ttl)
        for name in names:
            key = self.key(name)
            if life == _NEVER:
                pipe.set(key, new_token(), nx=True)
            else:
                pipe.set(key, new_token(), nx=True, px=_px(life))
            pipe.get(key)
            pipe.pttl(key)

    def _too_short(self, names: Sequence[str], replies: list[Any], ttl: float | None) -> list[str]:
        """Records that would expire before a value of ``ttl`` (rare: they live
        ``MIN_TTL`` at least); they are extended, which the others are not."""
        need = _NEVER if ttl is None else ttl * 1000
        pttls = replies[2::3]
        return [n for n, pttl in zip(names, pttls, strict=True) if pttl != -1 and pttl < need]

    def _queue_extend(self, pipe: Any, names: Sequence[str], ttl: float | None) -> None:
        life = lifetime(ttl)
        for name in names:
            if life == _NEVER:
                pipe.persist(self.key(name))
            else:
                pipe.pexpire(self.key(name), _px(life), gt=True)

    def _acquired(
        self,
        epoch: int,
        names: Sequence[str],
        needed: Sequence[str],
        held: dict[str, bytes],
        replies: list[Any],
    ) -> list[bytes]:
        pairs = [x for i in range(len(needed)) for x in replies[3 * i + 1 : 3 * i + 3]]
        fetched = self._remember(epoch, needed, pairs)
        for name in needed:
            if fetched[name] is None:  # deleted between our commands: match nothing
                fetched[name] = new_token()
        return [held[n] if n in held else fetched[n] for n in names]

    def drop(self, names: Iterable[str]) -> None:
        keys = [self.key(n) for n in names]
        if not keys:
            return
        try:
            self._client.unlink(*keys)
        except redis.RedisError as exc:
            raise _wrap(exc) from exc
        self._forget_now(keys)

    def forget_copies(self) -> None:
        with self.tracker.lock:
            self.tracker.bump(None)
            self._forget(None)

    def _forget_now(self, keys: list[str]) -> None:
        with self.tracker.lock:
            self.tracker.bump(keys)
            self._forget(keys)

    # -- async -------------------------------------------------------------------
    async def acurrent(self, names: Sequence[str]) -> list[bytes | None]:
        local = self._local if self.tracker.healthy else {}
        if all(name in local for name in names):
            return [local[name][0] for name in names]
        epoch = self.tracker.epoch
        replies = await self._aexecute(lambda pipe: self._queue_reads(pipe, names))
        fetched = self._remember(epoch, names, replies)
        return [fetched[n] for n in names]

    def _queue_reads(self, pipe: Any, names: Sequence[str]) -> None:
        for name in names:
            pipe.get(self.key(name))
            pipe.pttl(self.key(name))

    async def aacquire(self, names: Sequence[str], ttl: float | None) -> list[bytes]:
        held = self._held(names, ttl)
        if len(held) == len(names):
            return [held[n] for n in names]
        needed = [n for n in names if n not in held]
        epoch = self.tracker.epoch
        replies = await self._aexecute(lambda pipe: self._queue_acquire(pipe, needed, ttl))
        short = self._too_short(needed, replies, ttl)
        if short:
            await self._aexecute(lambda pipe: self._queue_extend(pipe, short, ttl))
        return self._acquired(epoch, names, needed, held, replies)

    async def adrop(self, names: Iterable[str]) -> None:
        keys = [self.key(n) for n in names]
        if keys:
            await self._aexecute(lambda pipe: pipe.unlink(*keys))
            self._forget_now(keys)

    async def _aexecute(self, queue: Any) -> list[Any]:
        try:
            async with self._async_client().pipeline(transaction=False) as pipe:
                queue(pipe)
                return await pipe.execute()
        except redis.RedisError as exc:
            raise _wrap(exc) from exc
