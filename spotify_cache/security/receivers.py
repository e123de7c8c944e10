"""Receivers of the backend's signals that feed the audit log (``connect`` in ``ready()``).

Each runs on the thread that sent the signal, often a request's, so each only
builds an ``Event`` and queues it.  Which invalidations are recorded, kept
simple: those with cause ``"command"`` (``manage.py invalidatecache``) and every
one sent inside ``audit.acting_as(user)`` (what RBAC wraps a user's calls in);
never the ``"model"`` ones of bindings or the application's own calls.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import caches
from django.utils import timezone

from .. import signals
from ..models import Action, Outcome
from . import audit
from .rows import Event

_UID = "spotify_cache.security.audit."
# Plain strings: an enum member's ``.value`` costs a descriptor call per event.
_VALUE_REJECTED, _REJECTED = Action.VALUE_REJECTED.value, Outcome.REJECTED.value


def connect() -> None:
    """Subscribe to ``value_rejected``, ``invalidated`` and ``circuit_changed``; a bad
    ``SPOTIFY_CACHE_AUDIT_*`` setting raises ``ImproperlyConfigured`` here, at start-up."""
    audit.config()
    signals.value_rejected.connect(value_rejected, dispatch_uid=_UID + "value_rejected")
    signals.invalidated.connect(invalidated, dispatch_uid=_UID + "invalidated")
    circuit = getattr(signals, "circuit_changed", None)  # present with stores.failover
    if circuit is not None:
        circuit.connect(circuit_changed, dispatch_uid=_UID + "circuit_changed")


def value_rejected(
    sender: Any, cache: Any = None, key: str = "", reason: str = "", **_: Any
) -> None:
    audit.submit(
        Event(
            action=_VALUE_REJECTED,
            time=timezone.now(),
            actor=audit.current_actor(),
            alias=getattr(cache, "alias", None),
            key=key,
            outcome=_REJECTED,
            reason=reason,
            cache=cache,
        )
    )


def invalidated(
    sender: Any,
    cache: Any = None,
    alias: str | None = None,
    kind: str = "",
    targets: tuple[str, ...] = (),
    count: int | None = None,
    cause: str = "",
    reason: str = "",
    **_: Any,
) -> None:
    actor = audit.current_actor()
    if actor is None and cause != "command":
        return
    audit.submit(
        Event(
            action=Action.INVALIDATE.value,
            time=timezone.now(),
            actor=actor or audit.command_actor(),
            alias=alias,
            outcome=Outcome.OK.value,
            reason=reason,
            details={"kind": kind, "cause": cause, "count": count},
            cache=cache,
            targets=tuple(targets),
        )
    )


def circuit_changed(
    sender: Any,
    location: str = "",
    namespace: str = "",
    store: str = "",
    old: str = "",
    new: str = "",
    reason: str = "",
    **_: Any,
) -> None:
    audit.submit(
        Event(
            action=Action.CIRCUIT_CHANGED.value,
            time=timezone.now(),
            alias=_alias_of(namespace),
            outcome=(Outcome.FAILED if new == "open" else Outcome.OK).value,
            reason=f"{old} -> {new}: {reason}",
            details={"location": location, "namespace": namespace, "store": store},
        )
    )


def _alias_of(namespace: str) -> str | None:
    """The alias of this thread's cache whose key namespace is ``namespace`` (rare
    events: a scan of the caches already built is cheap enough)."""
    for cache in caches.all(initialized_only=True):
        if namespace and getattr(getattr(cache, "namespace", None), "glob", None) == namespace:
            return getattr(cache, "alias", None)
    return None
