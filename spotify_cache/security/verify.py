"""Verifying and pruning the audit chain (``manage.py verifyaudit`` / ``pruneaudit``).

``verify`` walks the rows in ``seq`` order from the latest signed checkpoint
(or the genesis hash) and names the first row that breaks the chain: a gap in
the sequence (deleted), a row that does not point at its predecessor's hash
(inserted or reordered), a row whose fields no longer match its hash (edited
or forged), rows past the signed head (appended without the secret), or a head
short of the last row it signed (cut from the end).  ``prune`` removes rows
before a date only once they verify, and leaves a signed checkpoint so the
rest still verifies.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import router, transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..models import AuditChainHead, AuditCheckpoint, AuditLogEntry, AuditVerification
from . import chain

_COLUMNS = ("id", "actor_id", "row_hash", *chain.CHAIN_FIELDS)
_CHUNK = 2000


@dataclass(frozen=True)
class Report:
    """The outcome of a verification: ``problem`` is empty when the chain is intact."""

    checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class _Start:
    seq: int
    row_hash: str


class _Broken(Exception):
    def __init__(self, seq: int | None, problem: str) -> None:
        super().__init__(problem)
        self.seq, self.problem = seq, problem


def _db() -> str:
    return router.db_for_read(AuditLogEntry)


def _rows(db: str) -> QuerySet[AuditLogEntry]:
    return AuditLogEntry.objects.using(db)


def _start(db: str) -> _Start:
    """Where the remaining chain starts: the latest checkpoint, signed, or genesis."""
    checkpoint = AuditCheckpoint.objects.using(db).order_by("-seq").first()
    if checkpoint is None:
        return _Start(0, chain.GENESIS)
    if not chain.checkpoint_valid(checkpoint):
        raise _Broken(checkpoint.seq, f"the checkpoint at seq {checkpoint.seq} was edited")
    return _Start(checkpoint.seq, checkpoint.row_hash)


def _where(row: Mapping[str, Any]) -> str:
    return f"seq {row['seq']} (id {row['id']})"


def _check(row: Mapping[str, Any], seq: int, prev: str) -> None:
    if row["seq"] != seq:
        raise _Broken(seq, f"seq {seq} is missing (deleted); the next row is {_where(row)}")
    if row["prev_hash"] != prev:
        raise _Broken(seq, f"{_where(row)} does not follow seq {seq - 1} (inserted or reordered)")
    if not chain.row_valid(row):
        raise _Broken(seq, f"{_where(row)} does not match its hash (edited or forged)")
    if row["actor_id"] is not None and str(row["actor_id"]) != row["actor_ref"]:
        raise _Broken(seq, f"{_where(row)} points at another actor than it recorded (edited)")


def walk(db: str, start: _Start, stop: int) -> Iterator[Mapping[str, Any]]:
    """Rows after ``start`` up to seq ``stop``, each checked; raises ``_Broken``."""
    seq, prev = start.seq, start.row_hash
    rows = _rows(db).filter(seq__gt=start.seq, seq__lte=stop).order_by("seq")
    for row in rows.values(*_COLUMNS).iterator(chunk_size=_CHUNK):
        _check(row, seq + 1, prev)
        seq, prev = row["seq"], row["row_hash"]
        yield row
    if seq != stop:
        raise _Broken(seq + 1, f"seq {seq + 1} to {stop} are missing (cut from the end)")


def _head(db: str) -> AuditChainHead | None:
    head = AuditChainHead.objects.using(db).filter(pk=chain.HEAD_ID).first()
    if head is not None and not chain.head_valid(head):
        raise _Broken(head.seq, "the chain head was edited")
    return head


def _check_no_strays(db: str, start: _Start) -> None:
    early = _rows(db).filter(seq__lte=start.seq).order_by("seq").first()
    if early is not None:
        raise _Broken(
            early.seq, f"seq {early.seq} (id {early.pk}) is at or before the checkpoint (inserted)"
        )


def _check_after_head(db: str) -> None:
    head = _head(db)  # read again: writers may have moved it during the walk
    last = head.seq if head is not None else 0
    late = _rows(db).filter(seq__gt=last).order_by("seq").first()
    if late is not None:
        raise _Broken(late.seq, f"seq {late.seq} (id {late.pk}) is past the chain head (inserted)")


def _check_not_rewound(db: str, head_seq: int) -> None:
    last_ok = AuditVerification.objects.using(db).filter(ok=True, head_seq__isnull=False).first()
    if last_ok is not None and last_ok.head_seq is not None and head_seq < last_ok.head_seq:
        raise _Broken(
            head_seq + 1,
            f"the chain head went back from seq {last_ok.head_seq} (verified "
            f"{last_ok.time:%Y-%m-%d %H:%M}) to seq {head_seq} (rows cut, the head replayed)",
        )


def _verify_once(db: str) -> Report:
    head, start = _head(db), _start(db)
    if head is None:
        if _rows(db).exists() or start.seq:
            raise _Broken(None, "the chain head is missing")
        _check_not_rewound(db, 0)
        return Report(0, 0, chain.GENESIS)
    _check_not_rewound(db, head.seq)
    _check_no_strays(db, start)
    checked = sum(1 for _ in walk(db, start, head.seq)) if head.seq > start.seq else 0
    if head.seq == start.seq and head.row_hash != start.row_hash:
        raise _Broken(head.seq, "the chain head does not match the checkpoint")
    _check_after_head(db)
    return Report(checked, head.seq, head.row_hash)


def verify(using: str | None = None) -> Report:
    """Check the whole chain; a report names the first bad row instead of raising.
    A walk that overlapped a prune (the checkpoint moved) is run again."""
    db = using or _db()
    for _ in range(3):
        before = _start_seq(db)
        try:
            return _verify_once(db)
        except _Broken as broken:
            if _start_seq(db) != before:
                continue
            head = AuditChainHead.objects.using(db).filter(pk=chain.HEAD_ID).first()
            return Report(0, head.seq if head else 0, "", broken.seq, broken.problem)
    return Report(0, 0, "", None, "the log was pruned during every attempt; run it again")


def _start_seq(db: str) -> int | None:
    return AuditCheckpoint.objects.using(db).order_by("-seq").values_list("seq", flat=True).first()


def save_report(report: Report, using: str | None = None) -> AuditVerification:
    """Record ``report`` for the admin's badge."""
    return AuditVerification.objects.using(using or router.db_for_write(AuditVerification)).create(
        time=timezone.now(),
        ok=report.ok,
        checked=report.checked,
        head_seq=report.head_seq if report.ok else None,
        first_bad_seq=report.first_bad_seq,
        problem=report.problem,
    )


# -- pruning --------------------------------------------------------------------------
def _cut(db: str, before: dt.datetime) -> int:
    """The last seq such that it and every row before it are older than ``before``."""
    first_kept = (
        _rows(db).filter(time__gte=before).order_by("seq").values_list("seq", flat=True).first()
    )
    if first_kept is not None:
        return int(first_kept) - 1
    head = AuditChainHead.objects.using(db).filter(pk=chain.HEAD_ID).first()
    return head.seq if head is not None else 0


def prune(before: dt.datetime, using: str | None = None) -> AuditCheckpoint | None:
    """Remove the rows older than ``before`` (up to the first younger row in chain
    order) once they verify, leaving a signed checkpoint; ``None`` if none are older.
    Raises ``AuditChainError`` when they do not verify (pruning would hide it)."""
    db = using or chain.database()
    try:
        start = _start(db)
        cut = _cut(db, before)
        if cut <= start.seq:
            return None
        _check_no_strays(db, start)
        last = _last(walk(db, start, cut))
    except _Broken as broken:
        raise chain.AuditChainError(f"not pruning a broken chain: {broken.problem}") from None
    return _checkpoint(db, start, last, before)


def _last(rows: Iterator[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The last of ``rows``, having checked them all (``walk`` yields at least one)."""
    return deque(rows, maxlen=1)[0]


def _checkpoint(
    db: str, start: _Start, last: Mapping[str, Any], before: dt.datetime
) -> AuditCheckpoint:
    with transaction.atomic(using=db):
        if _start_seq(db) != (start.seq or None):
            raise chain.AuditChainError("another pruneaudit ran meanwhile; run it again")
        removed, _ = _rows(db).filter(seq__lte=last["seq"]).delete()
        checkpoint = AuditCheckpoint(
            seq=last["seq"],
            row_hash=last["row_hash"],
            pruned_before=before,
            removed=removed,
            created=timezone.now(),
        )
        chain.sign_checkpoint(checkpoint)
        checkpoint.save(using=db)
    return checkpoint
