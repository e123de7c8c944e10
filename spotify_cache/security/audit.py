"""The audit log's public API: ``record``, ``acting_as``, ``flush``, ``key_hash``.

Security events become ``AuditLogEntry`` rows: rejected values (``value_rejected``),
invalidations a person asked for (``invalidated`` with cause ``"command"``, or any
sent inside ``acting_as(user)``), circuit-breaker changes (``circuit_changed``), and
whatever RBAC, warming and key rotation pass to ``record`` (permission denials,
warm runs, clears, key rotations).  Receivers only queue an ``Event`` (see
``writer``); the writer thread hashes keys, finds partitions and chains the rows
(``chain``).  ``SPOTIFY_CACHE_AUDIT_SYNC = True`` writes in the caller's thread
instead, inside its transaction (tests on SQLite in memory, where another thread
cannot see the test's database).  No event ever carries a value or a raw key.
"""

from __future__ import annotations

import atexit
import getpass
import hashlib
import hmac
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import OperationalError
from django.utils import timezone

from ..models import Action, Outcome
from . import chain
from .rows import Actor, Event, to_rows
from .writer import Writer

logger = logging.getLogger("spotify_cache.audit")

DEFAULTS: dict[str, Any] = {
    # Write in the caller's thread and transaction instead of the writer thread.
    "SYNC": False,
    # Events held in memory per process before new ones are dropped (and counted).
    "QUEUE_SIZE": 10_000,
    # Events per transaction of the writer thread.
    "BATCH_SIZE": 500,
}
_RETRIES = 3
_acting: ContextVar[Actor | None] = ContextVar("spotify_cache_audit_actor", default=None)
_writer: Writer | None = None


class Config(NamedTuple):
    sync: bool
    queue_size: int
    batch_size: int


@cache
def config() -> Config:
    """``SPOTIFY_CACHE_AUDIT_*``, read once, reset on ``setting_changed``."""
    read = {k: getattr(settings, f"SPOTIFY_CACHE_AUDIT_{k}", v) for k, v in DEFAULTS.items()}
    for name in ("QUEUE_SIZE", "BATCH_SIZE"):
        value = read[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ImproperlyConfigured(
                f"SPOTIFY_CACHE_AUDIT_{name} must be a positive integer, not {value!r}"
            )
    return Config(bool(read["SYNC"]), read["QUEUE_SIZE"], read["BATCH_SIZE"])


def _reset(*, setting: str, **kwargs: Any) -> None:
    global _writer
    if setting.startswith("SPOTIFY_CACHE_AUDIT_"):
        config.cache_clear()
        old, _writer = _writer, None
        if old is not None:
            old.stop(5.0)


setting_changed.connect(_reset, dispatch_uid="spotify_cache.audit.reset")


# -- who is acting ----------------------------------------------------------------------
@cache
def _os_user() -> str:
    try:
        return f"os:{getpass.getuser()}"
    except Exception:  # no login name (containers): the command line stays anonymous
        return ""


def actor_of(user: Any = None, request: Any = None) -> Actor | None:
    """The ``Actor`` for ``user`` (a user model instance, or an ``Actor``) and
    ``request``, if any."""
    if isinstance(user, Actor):
        return user
    if user is None and request is not None:
        user = getattr(request, "user", None)
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    if user is None and request is None:
        return None
    pk = None if user is None else user.pk
    label = "" if user is None else str(user.get_username())
    meta = getattr(request, "META", {}) if request is not None else {}
    headers = getattr(request, "headers", {}) if request is not None else {}
    request_id = headers.get("X-Request-ID") or getattr(request, "request_id", "") or ""
    return Actor(pk, label, meta.get("REMOTE_ADDR"), str(request_id))


@contextmanager
def acting_as(user: Any = None, request: Any = None) -> Iterator[Actor | None]:
    """Attribute every event sent inside the block to ``user`` (and ``request``), and
    record every invalidation sent inside it, whatever its cause."""
    token = _acting.set(actor_of(user, request))
    try:
        yield _acting.get()
    finally:
        _acting.reset(token)


# -- recording --------------------------------------------------------------------------
def record(
    action: str,
    *,
    actor: Any = None,
    alias: str | None = None,
    partition: str | None = None,
    key: str | None = None,
    outcome: str = Outcome.OK,
    reason: str = "",
    request: Any = None,
    details: Mapping[str, Any] | None = None,
) -> bool:
    """Queue one audit event (``Action`` / ``Outcome`` values; ``key``: a full store
    key, ``cache.make_key(key)``, hashed before it is stored).  Without ``actor`` and
    ``request``, the ``acting_as`` block's actor.  ``False`` if the queue was full."""
    if action not in Action.values:
        raise ValueError(f"unknown audit action {action!r}; known: {Action.values}")
    if outcome not in Outcome.values:
        raise ValueError(f"unknown audit outcome {outcome!r}; known: {Outcome.values}")
    given = actor is not None or request is not None
    event = Event(
        action=str(action),
        time=timezone.now(),
        actor=actor_of(actor, request) if given else _acting.get(),
        alias=alias,
        partition=partition,
        key=key,
        outcome=str(outcome),
        reason=reason,
        details=dict(details or {}),
    )
    return submit(event)


def submit(event: Event) -> bool:
    """Queue ``event`` (or write it now in sync mode); never raises."""
    try:
        if not config().sync:
            return _current_writer().submit(event)
        write([event])
    except Exception as exc:  # the caller's request must not fail because of its audit
        logger.error("audit: event not written: %s: %s", type(exc).__name__, str(exc)[:200])
        return False
    return True


def write(events: Sequence[Event]) -> None:
    """Chain and store ``events`` now, in this thread (retrying a busy database)."""
    rows = to_rows(events, key_hash)
    for attempt in range(_RETRIES):
        try:
            chain.append(rows)
            return
        except OperationalError:  # "database is locked" and friends: another writer
            if attempt == _RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def key_hash(text: str) -> str:
    """The keyed hash stored instead of a key (HMAC-SHA256, key derived from
    ``SECRET_KEY``): search the admin for ``key_hash(cache.make_key(key))``."""
    return hmac.new(chain.keys("audit/key-hash")[0], text.encode(), hashlib.sha256).hexdigest()


# -- the writer of this process ---------------------------------------------------------
def _current_writer() -> Writer:
    global _writer
    writer = _writer
    if writer is None or writer.pid != _pid():
        cfg = config()
        writer = _writer = Writer(write, cfg.queue_size, cfg.batch_size)
        _register_exit()
    return writer


def _pid() -> int:
    return os.getpid()


@cache
def _register_exit() -> None:
    atexit.register(flush, 5.0)


def flush(timeout: float = 5.0) -> bool:
    """Write every queued event before returning (tests, shutdown); ``False`` if
    ``timeout`` seconds were not enough."""
    writer = _writer
    return True if writer is None or writer.pid != _pid() else writer.flush(timeout)


def stats() -> dict[str, Any]:
    """This process's counts: ``queued``, ``written``, ``failed``, ``dropped`` by action."""
    writer = _writer
    if writer is None or writer.pid != _pid():
        return {"queued": 0, "written": 0, "failed": 0, "dropped": {}}
    return writer.stats()


def current_actor() -> Actor | None:
    """The actor of the enclosing ``acting_as`` block, if any."""
    return _acting.get()


def command_actor() -> Actor:
    """The operating-system user running a management command."""
    return Actor(None, _os_user(), None, "")
