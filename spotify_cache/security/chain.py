"""The hash chain of the audit log: keys, canonical rows, MACs and appending.

Each row's ``row_hash`` is HMAC-SHA256, under a key derived from ``SECRET_KEY``
(HKDF, info ``spotify_cache/audit/chain``), over a canonical JSON of its fields
(``CHAIN_FIELDS``: everything but the database id, the actor foreign key and the
hash itself) and ``prev_hash``, the previous row's hash.  Whoever can write to
the database but does not know ``SECRET_KEY`` cannot make a row that verifies.

One chain for every process: ``append`` runs in one transaction that first
UPDATEs the single ``AuditChainHead`` row.  That statement takes the row lock on
PostgreSQL and MySQL and the database write lock on SQLite (which has no
``SELECT ... FOR UPDATE``, and where a read-then-write transaction can fail
with "database is locked" instead of waiting), so the batches of several
gunicorn workers queue up one after the other and sequence numbers stay
contiguous.  A crashed transaction rolls back rows and head together.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from django.conf import settings
from django.db import router, transaction
from django.db.models import F

from ..codecs.sealing import derive
from ..exceptions import SpotifyCacheError
from ..models import AuditChainHead, AuditCheckpoint, AuditLogEntry

#: The ``prev_hash`` of the first row ever written.
GENESIS = "0" * 64
HEAD_ID = 1
#: The fields a row's hash covers, ``prev_hash`` included.
CHAIN_FIELDS = (
    "seq",
    "time",
    "actor_ref",
    "actor_label",
    "action",
    "alias",
    "partition",
    "key_hash",
    "outcome",
    "reason",
    "remote_addr",
    "request_id",
    "details",
    "prev_hash",
)


class AuditChainError(SpotifyCacheError):
    """Raised when the audit chain cannot be extended or pruned safely (its head is
    missing while rows exist, or the rows to prune do not verify)."""


def secrets() -> tuple[bytes, ...]:
    """``SECRET_KEY`` then ``SECRET_KEY_FALLBACKS``, as bytes (the first one signs)."""
    values = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())]
    return tuple(v.encode() if isinstance(v, str) else bytes(v) for v in values if v)


@cache
def _derived(materials: tuple[bytes, ...], purpose: str) -> tuple[bytes, ...]:
    return tuple(derive(m, purpose) for m in materials)


def keys(purpose: str = "audit/chain") -> tuple[bytes, ...]:
    """The HKDF subkeys of every secret for ``purpose``; the first one signs."""
    materials = secrets()
    if not materials:
        raise AuditChainError("the audit log needs a SECRET_KEY")
    return _derived(materials, purpose)


def instant(value: Any) -> str:
    """A datetime as the canonical form of the chain: ISO 8601, UTC when aware."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


def canonical(label: str, fields: Mapping[str, Any]) -> bytes:
    """What a MAC covers: a domain label, then the fields as sorted, compact JSON."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return label.encode() + b"\x00" + text.encode()


def _mac(key: bytes, label: str, fields: Mapping[str, Any]) -> str:
    return hmac.new(key, canonical(label, fields), hashlib.sha256).hexdigest()


def _row_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    fields = {name: row[name] for name in CHAIN_FIELDS}
    fields["time"] = instant(fields["time"])
    return fields


def row_mac(row: Mapping[str, Any]) -> str:
    """The ``row_hash`` of a row (a mapping with every ``CHAIN_FIELDS`` name)."""
    return _mac(keys()[0], "row", _row_fields(row))


def _valid(label: str, fields: Mapping[str, Any], mac: str) -> bool:
    return any(hmac.compare_digest(_mac(k, label, fields), mac) for k in keys())


def row_valid(row: Mapping[str, Any]) -> bool:
    """Whether ``row["row_hash"]`` is the MAC of its fields under any current secret."""
    return _valid("row", _row_fields(row), str(row["row_hash"]))


def _head_fields(seq: int, row_hash: str) -> dict[str, Any]:
    return {"seq": seq, "row_hash": row_hash}


def head_mac(seq: int, row_hash: str) -> str:
    return _mac(keys()[0], "head", _head_fields(seq, row_hash))


def head_valid(head: AuditChainHead) -> bool:
    return _valid("head", _head_fields(head.seq, head.row_hash), head.mac)


def _checkpoint_fields(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return {
        "seq": checkpoint.seq,
        "row_hash": checkpoint.row_hash,
        "pruned_before": instant(checkpoint.pruned_before),
        "removed": checkpoint.removed,
        "created": instant(checkpoint.created),
    }


def sign_checkpoint(checkpoint: AuditCheckpoint) -> None:
    checkpoint.mac = _mac(keys()[0], "checkpoint", _checkpoint_fields(checkpoint))


def checkpoint_valid(checkpoint: AuditCheckpoint) -> bool:
    return _valid("checkpoint", _checkpoint_fields(checkpoint), checkpoint.mac)


def database() -> str:
    """The database alias the audit tables are written to (database routers decide)."""
    return router.db_for_write(AuditLogEntry)


def _log_is_empty(db: str) -> bool:
    entries, checkpoints = AuditLogEntry.objects.using(db), AuditCheckpoint.objects.using(db)
    return not entries.exists() and not checkpoints.exists()


def _locked_head(db: str) -> AuditChainHead:
    """The chain head, locked until the end of the open transaction (created for an
    empty log; a missing head with rows present is tampering, never papered over)."""
    heads = AuditChainHead.objects.using(db)
    if heads.filter(pk=HEAD_ID).update(seq=F("seq")) == 0:
        if not _log_is_empty(db):
            raise AuditChainError("the audit chain head is missing: run manage.py verifyaudit")
        heads.get_or_create(
            pk=HEAD_ID, defaults={"seq": 0, "row_hash": GENESIS, "mac": head_mac(0, GENESIS)}
        )
        heads.filter(pk=HEAD_ID).update(seq=F("seq"))
    return heads.get(pk=HEAD_ID)


def append(rows: Sequence[Mapping[str, Any]], using: str | None = None) -> list[AuditLogEntry]:
    """Chain ``rows`` (model field values, without ``seq`` and the hashes) after the
    head and write them in one transaction; returns the saved entries."""
    db = using or database()
    with transaction.atomic(using=db):
        head = _locked_head(db)
        entries = list(_link(head, rows))
        AuditLogEntry.objects.using(db).bulk_create(entries)
        head.mac = head_mac(head.seq, head.row_hash)
        head.save(using=db)
    return entries


def _link(head: AuditChainHead, rows: Iterable[Mapping[str, Any]]) -> Iterable[AuditLogEntry]:
    for row in rows:
        fields = {**row, "seq": head.seq + 1, "prev_hash": head.row_hash}
        fields["row_hash"] = row_mac(fields)
        head.seq, head.row_hash = fields["seq"], fields["row_hash"]
        yield AuditLogEntry(**fields)
