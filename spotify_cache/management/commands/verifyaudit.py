"""``manage.py verifyaudit``: check the audit log's hash chain; exit 1 at the first bad row.

A thin shell over ``security.verify.verify``; the outcome is saved
(``AuditVerification``) for the admin's badge either way.  Prints the chain
head (seq and hash): kept somewhere the database's writers cannot reach, it
proves later that no rows were cut from the end.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ...security import verify


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain; "
        "name the first edited, deleted, inserted or reordered row."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify.verify()
        verify.save_report(report)
        if not report.ok:
            raise CommandError(f"audit log verification failed: {report.problem}")
        self.stdout.write(
            f"audit log ok: {report.checked} rows verified; "
            f"head seq {report.head_seq} hash {report.head_hash}"
        )
