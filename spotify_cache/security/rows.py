"""Audit events as queued (``Event``) and as written (a dict of model field values).

An ``Event`` is built on the caller's thread and must be cheap: it holds the raw
store key and targets, the cache and the time.  ``to_rows`` runs on the writer
thread: it hashes keys and targets, finds the partition, and normalizes every
field to what the database will hand back (text trimmed to its column, NUL
removed, addresses in canonical form, details as plain JSON), so the hash
computed now matches the row read back by ``verifyaudit``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

Hasher = Callable[[str], str]
#: Targets of one invalidation listed (hashed) in an entry's details; the rest counted.
MAX_TARGETS = 20


class Actor(NamedTuple):
    """Who acted: a user's pk and username, the request's address and id."""

    pk: Any
    label: str
    remote_addr: str | None
    request_id: str


class Event(NamedTuple):
    """One security event, queued; ``key`` is a full store key, never stored raw."""

    action: str
    time: dt.datetime
    actor: Actor | None = None
    alias: str | None = None
    partition: str | None = None
    key: str | None = None
    outcome: str = "ok"
    reason: str = ""
    details: Mapping[str, Any] | None = None
    cache: Any = None
    #: an invalidation's targets (``details["kind"]`` says what they are)
    targets: tuple[str, ...] = ()


_NOBODY = Actor(None, "", None, "")


def to_rows(events: Sequence[Event], hasher: Hasher) -> list[dict[str, Any]]:
    return [to_row(event, hasher) for event in events]


def to_row(event: Event, hasher: Hasher) -> dict[str, Any]:
    """The ``AuditLogEntry`` field values of ``event`` (no ``seq`` or hashes yet)."""
    actor = event.actor or _NOBODY
    return {
        "time": event.time,
        "actor_id": actor.pk,
        "actor_ref": "" if actor.pk is None else text(actor.pk, 64),
        "actor_label": text(actor.label, 150),
        "action": event.action,
        "alias": text(event.alias or getattr(event.cache, "alias", None) or "", 100),
        "partition": text(event.partition or _partition(event), 64),
        "key_hash": _key_hash(event, hasher),
        "outcome": event.outcome,
        "reason": text(event.reason, 255),
        "remote_addr": address(actor.remote_addr),
        "request_id": text(actor.request_id, 64),
        "details": _details(event, hasher),
    }


def text(value: Any, limit: int) -> str:
    """``value`` as text fit for a column of ``limit`` characters (no NUL)."""
    return str(value).replace("\x00", "")[:limit]


def address(value: Any) -> str | None:
    """An IP address in the form databases return it (IPv4-mapped as IPv4, no
    zone), or ``None`` when it is not one."""
    try:
        ip = ipaddress.ip_address(str(value).split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def plain_json(data: Any) -> Any:
    """``data`` as the JSON a database returns: lists for tuples, text for other
    objects, string keys, no NUL (PostgreSQL's jsonb refuses it)."""
    try:
        loaded = json.loads(json.dumps(data, default=str, allow_nan=False))
    except ValueError:  # NaN or infinity
        loaded = {"unserializable": type(data).__name__}
    return _strip_nul(loaded)


def _strip_nul(data: Any) -> Any:
    if isinstance(data, str):
        return data.replace("\x00", "")
    if isinstance(data, list):
        return [_strip_nul(item) for item in data]
    if isinstance(data, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in data.items()}
    return data


def _details(event: Event, hasher: Hasher) -> dict[str, Any]:
    details = dict(event.details or {})
    if event.targets:
        kind = str(details.get("kind", ""))
        listed = event.targets[:MAX_TARGETS]
        details["targets"] = [_target(event.cache, kind, t, hasher) for t in listed]
        details["target_count"] = len(event.targets)
    data = plain_json(details)
    return data if isinstance(data, dict) else {"details": data}


def _target(cache: Any, kind: str, target: str, hasher: Hasher) -> str:
    """A partition's name as it is (configuration, not data); anything else hashed."""
    if kind == "partition":
        return target
    if kind == "key":
        return _store_key_hash(cache, target, hasher)
    return hasher(f"{kind}:{target}")


def _store_key_hash(cache: Any, key: str, hasher: Hasher) -> str:
    try:
        return hasher(cache.make_key(key))
    except Exception:  # no cache, or a KEY_FUNCTION refusing it: the caller's key
        return hasher(str(key))


def _key_hash(event: Event, hasher: Hasher) -> str:
    if event.key is not None:
        return hasher(str(event.key))
    kind = (event.details or {}).get("kind")
    if kind == "key" and len(event.targets) == 1:
        return _store_key_hash(event.cache, event.targets[0], hasher)
    return ""


def _partition(event: Event) -> str:
    try:
        return _find_partition(event)
    except Exception:  # a custom KEY_FUNCTION or cache: leave it blank, never fail
        return ""


def _find_partition(event: Event) -> str:
    cache, kind = event.cache, (event.details or {}).get("kind")
    if kind == "partition" and len(event.targets) == 1:
        return event.targets[0]
    if cache is None or not hasattr(cache, "partition_of"):
        return ""
    if event.key is not None:
        return str(cache.partition_of(cache.namespace.strip(event.key)))
    if kind == "key":
        found = {cache.partition_of(key) for key in event.targets}
        return str(found.pop()) if len(found) == 1 else ""
    return ""
