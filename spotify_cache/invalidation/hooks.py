"""Invalidation hooks: your code, called after every invalidation that matches.

::

    @register_invalidation_hook(pattern="track:*", cache="default")
    def purge_cdn(event: Invalidation) -> None:
        cdn.purge(event.targets)

The registry subscribes to ``signals.invalidated`` (in ``AppConfig.ready``).
Each matching hook gets one ``Invalidation``.  Inside an atomic block the
hooks wait for the commit (``transaction.on_commit``) and do not run if it
rolls back, although the invalidation itself, made in the cache, stands;
outside one they run at once.  A failing hook is logged on
``spotify_cache.invalidation`` (its name, the kind, cause and cache, the
exception's type: never values nor the exception's text, which may hold
them; the traceback at DEBUG) and counted in ``hook_failures``; it never
breaks the write nor the other hooks.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import partial
from typing import Any, overload

from django.db import connections, transaction

from ..signals import invalidated

logger = logging.getLogger("spotify_cache.invalidation")

#: Failures per hook name, since the process started.
hook_failures: Counter[str] = Counter()

_hooks: tuple[Hook, ...] = ()
_lock = threading.Lock()
_UID = "spotify_cache.invalidation.hooks"


@dataclass(frozen=True)
class Invalidation:
    """One invalidation, as the backend reported it.

    ``kind`` is ``"key"``, ``"glob"``, ``"tag"`` or ``"partition"``; ``targets``
    the keys, the glob, the tag names or the partition name; ``count`` the keys
    removed when known; ``cause`` who asked (the kind, or ``"model"`` for a
    binding); ``partition`` the partition of the keys (``"key"`` kind, when they
    share one) or the partition invalidated."""

    alias: str | None
    kind: str
    cause: str
    targets: tuple[str, ...]
    count: int | None
    reason: str
    partition: str | None = None


Callback = Callable[[Invalidation], Any]


@dataclass(frozen=True, eq=False)
class Hook:
    """A registered callback and its filters; call it like the callback."""

    callback: Callback
    name: str
    partition: str | None = None
    pattern: str | None = None
    cache: str | None = None

    def __call__(self, event: Invalidation) -> Any:
        return self.callback(event)

    def matches(self, event: Invalidation, partitions: frozenset[str]) -> bool:
        """``cache`` is the alias, ``partition`` one of the partitions touched,
        ``pattern`` a glob over the targets (key, glob, tag or partition names)."""
        if self.cache is not None and event.alias != self.cache:
            return False
        if self.partition is not None and self.partition not in partitions:
            return False
        return self.pattern is None or any(fnmatchcase(t, self.pattern) for t in event.targets)


@overload
def register_invalidation_hook(
    callback: Callback,
    *,
    partition: str | None = ...,
    pattern: str | None = ...,
    cache: str | None = ...,
    name: str | None = ...,
) -> Hook: ...
@overload
def register_invalidation_hook(
    callback: None = ...,
    *,
    partition: str | None = ...,
    pattern: str | None = ...,
    cache: str | None = ...,
    name: str | None = ...,
) -> Callable[[Callback], Hook]: ...
def register_invalidation_hook(
    callback: Callback | None = None,
    *,
    partition: str | None = None,
    pattern: str | None = None,
    cache: str | None = None,
    name: str | None = None,
) -> Hook | Callable[[Callback], Hook]:
    """Call ``callback(Invalidation)`` after each matching invalidation; return the
    handle for ``unregister_invalidation_hook``.  Without ``callback``, a decorator."""

    def register(function: Callback) -> Hook:
        hook = Hook(function, name or _name(function), partition, pattern, cache)
        global _hooks
        with _lock:
            _hooks = (*_hooks, hook)
        return hook

    return register if callback is None else register(callback)


def unregister_invalidation_hook(hook: Hook | Callback) -> bool:
    """Remove a hook (by handle or by callback); return whether it was registered."""
    global _hooks
    with _lock:
        kept = tuple(h for h in _hooks if h is not hook and h.callback is not hook)
        removed = len(kept) != len(_hooks)
        _hooks = kept
    return removed


def registered() -> tuple[Hook, ...]:
    """The hooks, in registration order."""
    return _hooks


def _name(function: Callback) -> str:
    qualname = getattr(function, "__qualname__", type(function).__qualname__)
    return f"{getattr(function, '__module__', '?')}.{qualname}"


def connect() -> None:
    """Subscribe the registry to ``signals.invalidated`` (``AppConfig.ready``)."""
    invalidated.connect(_on_invalidated, weak=False, dispatch_uid=_UID)


def _on_invalidated(sender: Any, **kwargs: Any) -> None:
    hooks = _hooks
    if not hooks:
        return
    event, partitions = event_from_signal(kwargs)
    chosen = [hook for hook in hooks if hook.matches(event, partitions)]
    if chosen:
        _after_commit(partial(run_hooks, chosen, event))


def event_from_signal(kwargs: Mapping[str, Any]) -> tuple[Invalidation, frozenset[str]]:
    """The ``Invalidation`` the signal's arguments describe, and the partitions touched."""
    cache = kwargs.get("cache")
    kind = kwargs.get("kind", "key")
    targets = tuple(kwargs.get("targets") or ())
    partitions = _partitions(cache, kind, targets)
    event = Invalidation(
        alias=kwargs.get("alias", getattr(cache, "alias", None)),
        kind=kind,
        cause=kwargs.get("cause") or kind,
        targets=targets,
        count=kwargs.get("count"),
        reason=kwargs.get("reason", ""),
        partition=next(iter(partitions)) if len(partitions) == 1 else None,
    )
    return event, partitions


def _partitions(cache: Any, kind: str, targets: Iterable[str]) -> frozenset[str]:
    if kind == "partition":
        return frozenset(targets)
    if kind != "key" or not hasattr(cache, "partition_of"):
        return frozenset()
    return frozenset(cache.partition_of(key) for key in targets)


def _after_commit(function: Callable[[], None]) -> None:
    """Run ``function`` after the commit of the open atomic block, if any, else now."""
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:
            transaction.on_commit(function, using=connection.alias)
            return
    function()


def run_hooks(hooks: Iterable[Hook], event: Invalidation) -> None:
    """Call each hook; one that raises is logged and counted, the others still run."""
    for hook in hooks:
        try:
            hook.callback(event)
        except Exception as exc:
            _failed(hook, event, exc)


def _failed(hook: Hook, event: Invalidation, exc: Exception) -> None:
    with _lock:
        hook_failures[hook.name] += 1
    logger.error(
        "invalidation hook %s failed on a %s invalidation (cause %s, cache %s): %s",
        hook.name,
        event.kind,
        event.cause,
        event.alias,
        type(exc).__name__,
    )
    logger.debug("invalidation hook %s traceback", hook.name, exc_info=True)
