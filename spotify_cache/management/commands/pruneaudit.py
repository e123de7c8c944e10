"""``manage.py pruneaudit --before DATE``: remove old audit rows, keep a signed checkpoint.

Rows are removed in chain order up to the first one at or after ``DATE``, and
only if they verify (pruning would otherwise hide tampering); the checkpoint
holds the seq and hash of the last removed row so the rest still verifies.
The prune itself is recorded in the log.  A thin shell over
``security.verify.prune``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ...models import Action
from ...security import audit, verify
from ...security.chain import AuditChainError


class Command(BaseCommand):
    help = "Remove audit log rows older than --before, keeping a signed checkpoint."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--before", required=True, help="YYYY-MM-DD or an ISO 8601 date and time"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        before = _moment(options["before"])
        try:
            checkpoint = verify.prune(before)
        except AuditChainError as exc:
            raise CommandError(str(exc)) from exc
        if checkpoint is None:
            self.stdout.write(f"no audit rows before {before.isoformat()}")
            return
        audit.record(
            Action.PRUNE_AUDIT,
            actor=audit.command_actor(),
            reason=f"manage.py pruneaudit --before {before.isoformat()}",
            details={"removed": checkpoint.removed, "checkpoint_seq": checkpoint.seq},
        )
        audit.flush(10.0)
        self.stdout.write(
            f"removed {checkpoint.removed} rows up to seq {checkpoint.seq}; "
            f"checkpoint hash {checkpoint.row_hash}"
        )


def _moment(text: str) -> dt.datetime:
    """``text`` as a datetime; a date means its midnight, naive means local time."""
    try:
        moment = parse_datetime(text)
        day = None if moment else parse_date(text)
    except ValueError:
        moment = day = None
    if moment is None and day is None:
        raise CommandError(f"--before {text!r}: expected YYYY-MM-DD or an ISO 8601 date and time")
    if moment is None:
        moment = dt.datetime.combine(day, dt.time())  # type: ignore[arg-type]
    if settings.USE_TZ and timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment
