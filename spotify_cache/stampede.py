"""Stampede protection for read-through: single-flight, early refresh, serve-stale.

``OPTIONS["STAMPEDE"]`` (all optional)::

    {"BETA": 1.0,        # XFetch early refresh (0 turns it off)
     "STALE": 0,         # seconds a value may be served stale while one caller refreshes it
     "LOCK": False,      # also one loader across processes (a lock key in the store)
     "LOCK_TIMEOUT": 30, # seconds the cross-process lock lives at most
     "WAIT": 10}         # seconds a caller waits for another's load before loading itself

* **Single-flight** (always on): concurrent ``get_or_set`` calls for one key in
  one process run the loader once; the others wait for its result.  With
  ``LOCK``, a lock key (``SET NX PX``) elects one loader across processes;
  the others poll for the value until ``WAIT``.
* **XFetch** (Vattani, Chierichetti, Lowenstein, VLDB 2015): a value written by
  ``get_or_set`` records when it expires and how long its load took (``delta``);
  a reader recomputes it early with probability rising as expiry nears:
  ``now - delta * BETA * ln(random()) >= expiry``.  Exactly one caller per
  process does (single-flight); the others keep getting the current value.
* **Serve-stale-while-revalidate**: with ``STALE`` > 0 the store keeps a value
  ``STALE`` seconds past its TTL; ``get_or_set`` serves it in that window and
  refreshes it in a background thread (once per process); plain ``get`` never
  returns it past its TTL.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured

from .codecs.stamps import Meta
from .stores import option_checks

T = TypeVar("T")
logger = logging.getLogger("spotify_cache.readthrough")
DEFAULTS = {"BETA": 1.0, "STALE": 0.0, "LOCK": False, "LOCK_TIMEOUT": 30.0, "WAIT": 10.0}


@dataclass(frozen=True)
class Policy:
    beta: float = 1.0
    stale: float = 0.0
    lock: bool = False
    lock_timeout: float = 30.0
    wait: float = 10.0

    def meta(self, ttl: float | None, delta: float, hard: bool = False) -> Meta | None:
        """The read-through record of a value loaded in ``delta`` s, kept ``ttl`` s;
        ``hard``: its expiry is sealed anyway (plain reads enforce it)."""
        if ttl is None or ttl <= 0 or (self.beta <= 0 and self.stale <= 0 and not hard):
            return None
        return Meta(time.time() + ttl, delta, hard=hard or self.stale > 0)

    def store_ttl(self, ttl: float | None) -> float | None:
        """How long the store keeps it: the TTL plus the serve-stale window."""
        return ttl if ttl is None or ttl <= 0 or self.stale <= 0 else ttl + self.stale

    def expired(self, meta: Meta | None) -> bool:
        return meta is not None and time.time() >= meta.expires_at

    def serves_stale(self, meta: Meta | None) -> bool:
        """Whether a value past its expiry is served while it is refreshed: only
        inside the ``STALE`` window, which the sealed expiry bounds too (a blob put
        back into Redis after the window ended, or with ``STALE`` 0, is a miss)."""
        if meta is None:
            return False
        now = time.time()
        return meta.expires_at <= now < meta.expires_at + self.stale

    def refresh_early(self, meta: Meta | None) -> bool:
        """XFetch: whether this reader should recompute before expiry."""
        if meta is None or self.beta <= 0:
            return False
        gap = -meta.delta * self.beta * math.log(1.0 - random.random())
        return time.time() + gap >= meta.expires_at


def read_policy(options: Mapping[str, Any]) -> Policy:
    """``OPTIONS["STAMPEDE"]`` as a ``Policy``; ``ImproperlyConfigured`` naming the field."""
    spec = options.get("STAMPEDE") or {}
    if not isinstance(spec, Mapping) or set(spec) - set(DEFAULTS):
        raise ImproperlyConfigured(
            f'OPTIONS["STAMPEDE"] must be a dict with keys among {sorted(DEFAULTS)}'
        )
    within = 'OPTIONS["STAMPEDE"]'
    try:
        for name, minimum in (("BETA", 0.0), ("STALE", 0.0), ("LOCK_TIMEOUT", 0.001)):
            option_checks.number(spec, name, minimum=minimum, within=within)
        option_checks.number(spec, "WAIT", minimum=0.0, within=within)
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from exc
    merged = {**DEFAULTS, **spec}
    return Policy(
        float(merged["BETA"]),
        float(merged["STALE"]),
        bool(merged["LOCK"]),
        float(merged["LOCK_TIMEOUT"]),
        float(merged["WAIT"]),
    )


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False
        self.value: Any = None


class Flights:
    """One loader per key per process; the other callers wait for its result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, _Flight] = {}

    def busy(self, key: str) -> bool:
        return key in self._running

    def run(self, key: str, load: Callable[[], T], wait: float) -> T:
        """``load()`` once for concurrent callers; a caller that waited longer than
        ``wait``, or whose leader failed, loads for itself."""
        with self._lock:
            flight = self._running.get(key)
            leading = flight is None
            if flight is None:
                flight = self._running[key] = _Flight()
        if not leading:
            if flight.done.wait(wait) and flight.ok:
                return flight.value
            return load()
        try:
            flight.value = load()
            flight.ok = True
            return flight.value
        finally:
            with self._lock:
                self._running.pop(key, None)
            flight.done.set()

    def refresh_in_background(self, key: str, load: Callable[[], Any]) -> None:
        """Start ``load`` in a thread unless a load of ``key`` is already running."""
        with self._lock:
            if key in self._running:
                return
            self._running[key] = _Flight()
        threading.Thread(target=self._background, args=(key, load), daemon=True).start()

    def _background(self, key: str, load: Callable[[], Any]) -> None:
        try:
            load()
        except Exception as exc:  # the stale value stays; the next caller retries
            logger.warning("background refresh failed: %s", type(exc).__name__)
        finally:
            with self._lock:
                flight = self._running.pop(key, None)
            if flight is not None:
                flight.done.set()


class AsyncFlights:
    """``Flights`` for coroutines: one loading task per key per event loop."""

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )

    async def run(self, key: str, load: Callable[[], Awaitable[T]], wait: float) -> T:
        running = self._loops.setdefault(asyncio.get_running_loop(), {})
        future = running.get(key)
        if future is not None:
            try:
                return await asyncio.wait_for(asyncio.shield(future), wait)
            except Exception:
                return await load()
        future = running[key] = asyncio.get_running_loop().create_future()
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters load for themselves
            raise
        finally:
            running.pop(key, None)
        future.set_result(value)
        return value
