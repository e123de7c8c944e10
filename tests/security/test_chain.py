"""Tamper evidence: verifyaudit names the first edited, deleted, inserted or reordered
row and exits non-zero; pruning keeps a signed checkpoint the rest verifies from."""

from __future__ import annotations

import datetime as dt
import io
import itertools

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from spotify_cache.models import AuditChainHead, AuditCheckpoint, AuditLogEntry, AuditVerification
from spotify_cache.security import audit, chain
from spotify_cache.security.verify import verify
from tests.security.conftest import entries, populate

pytestmark = pytest.mark.django_db


def verifyaudit() -> str:
    out = io.StringIO()
    call_command("verifyaudit", stdout=out)
    return out.getvalue()


def failure() -> str:
    with pytest.raises(CommandError) as raised:
        verifyaudit()
    return str(raised.value)


def test_an_intact_chain_verifies_and_the_outcome_is_saved() -> None:
    rows = populate(6)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0].prev_hash == chain.GENESIS
    assert all(b.prev_hash == a.row_hash for a, b in itertools.pairwise(rows))
    assert "6 rows verified" in verifyaudit()
    last = AuditVerification.objects.latest()
    assert last.ok and last.head_seq == 6 and last.checked == 6


def test_an_empty_log_verifies() -> None:
    assert verify().ok and verify().head_seq == 0


def test_an_edited_field_is_named() -> None:
    populate(6)
    AuditLogEntry.objects.filter(seq=3).update(reason="nothing happened")
    assert "seq 3" in failure() and "edited" in failure()
    last = AuditVerification.objects.latest()
    assert not last.ok and last.first_bad_seq == 3


@pytest.mark.parametrize(
    "column, value",
    [("outcome", "'ok'"), ("time", "'2001-01-01 00:00:00'"), ("details", "'{\"x\": 1}'")],
)
def test_an_edit_by_raw_sql_is_named(column: str, value: str) -> None:
    populate(5)
    table = AuditLogEntry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = {value} WHERE seq = 2")
    assert verify().first_bad_seq == 2 and "edited" in verify().problem


def test_re_pointing_the_actor_is_named() -> None:
    from django.contrib.auth import get_user_model

    alice = get_user_model().objects.create_user("alice")
    mallory = get_user_model().objects.create_user("mallory")
    populate(3, actor=alice)
    AuditLogEntry.objects.filter(seq=2).update(actor=mallory)
    assert verify().first_bad_seq == 2 and "another actor" in verify().problem


def test_a_deleted_row_is_named() -> None:
    populate(6)
    AuditLogEntry.objects.filter(seq=4).delete()
    message = failure()
    assert "seq 4 is missing (deleted)" in message


def test_rows_cut_from_the_end_are_named() -> None:
    populate(6)
    AuditLogEntry.objects.filter(seq__gte=5).delete()
    assert "seq 5 to 6 are missing" in failure()


def test_a_forged_row_appended_after_the_head_is_named() -> None:
    rows = populate(4)
    forged = {f.attname: getattr(rows[-1], f.attname) for f in AuditLogEntry._meta.concrete_fields}
    forged.update(id=None, seq=5, prev_hash=rows[-1].row_hash, reason="forged", row_hash="0" * 64)
    AuditLogEntry.objects.create(**forged)
    assert "seq 5" in failure() and "past the chain head" in failure()


def test_a_forged_row_inserted_in_the_middle_is_named() -> None:
    rows = populate(5)
    for seq in (5, 4, 3):  # make room at seq 3, as an attacker would
        AuditLogEntry.objects.filter(seq=seq).update(seq=seq + 1)
    forged = {f.attname: getattr(rows[1], f.attname) for f in AuditLogEntry._meta.concrete_fields}
    forged.update(id=None, seq=3, prev_hash=rows[1].row_hash, reason="forged")
    AuditLogEntry.objects.create(**forged)
    report = verify()
    assert report.first_bad_seq == 3 and "edited or forged" in report.problem


def test_a_forged_row_with_a_moved_head_is_named() -> None:
    rows = populate(3)
    AuditChainHead.objects.update(seq=4, row_hash="f" * 64)
    forged = {f.attname: getattr(rows[-1], f.attname) for f in AuditLogEntry._meta.concrete_fields}
    forged.update(id=None, seq=4, prev_hash=rows[-1].row_hash, row_hash="f" * 64)
    AuditLogEntry.objects.create(**forged)
    assert "chain head was edited" in failure()


def test_two_swapped_rows_are_named() -> None:
    populate(6)
    AuditLogEntry.objects.filter(seq=2).update(seq=-2)
    AuditLogEntry.objects.filter(seq=5).update(seq=2)
    AuditLogEntry.objects.filter(seq=-2).update(seq=5)
    report = verify()
    assert report.first_bad_seq == 2 and "inserted or reordered" in report.problem


def test_a_deleted_head_is_named() -> None:
    populate(2)
    AuditChainHead.objects.all().delete()
    assert "chain head is missing" in failure()


def test_writing_after_the_head_was_deleted_refuses_to_start_a_new_chain() -> None:
    populate(2)
    AuditChainHead.objects.all().delete()
    assert not audit.record("warm", reason="after the head went")
    assert len(entries()) == 2


def test_a_head_replayed_from_an_earlier_state_is_noticed() -> None:
    populate(3)
    old_head = AuditChainHead.objects.get()
    populate(2)
    verifyaudit()
    AuditLogEntry.objects.filter(seq__gt=3).delete()
    AuditChainHead.objects.update(seq=old_head.seq, row_hash=old_head.row_hash, mac=old_head.mac)
    assert "went back from seq 5" in failure()


def test_old_rows_verify_after_the_secret_key_moves_to_the_fallbacks(settings) -> None:
    populate(3)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-for-the-rotation-test"
    populate(2)
    assert verify().ok
    settings.SECRET_KEY_FALLBACKS = []
    assert verify().first_bad_seq is not None  # without the old secret, nothing proves them


# -- pruning ------------------------------------------------------------------------------
def _age(seqs: range, days: int) -> None:
    """Back-date rows and re-sign them, as if they had been written ``days`` ago."""
    for row in AuditLogEntry.objects.filter(seq__in=seqs).order_by("seq"):
        row.time = timezone.now() - dt.timedelta(days=days)
        AuditLogEntry.objects.filter(pk=row.pk).update(time=row.time)
    _resign()


def _resign() -> None:
    prev, head = chain.GENESIS, AuditChainHead.objects.get()
    for row in AuditLogEntry.objects.order_by("seq").values():
        row["prev_hash"] = prev
        prev = chain.row_mac(row)
        AuditLogEntry.objects.filter(pk=row["id"]).update(prev_hash=row["prev_hash"], row_hash=prev)
    head.row_hash, head.mac = prev, chain.head_mac(head.seq, prev)
    head.save()


def prune(before: dt.datetime) -> str:
    out = io.StringIO()
    call_command("pruneaudit", "--before", before.isoformat(), stdout=out)
    return out.getvalue()


def test_prune_then_verify_passes() -> None:
    populate(10)
    _age(range(1, 7), days=400)
    assert verify().ok
    assert "removed 6 rows up to seq 6" in prune(timezone.now() - dt.timedelta(days=365))
    rows = entries()
    assert [r.seq for r in rows] == [7, 8, 9, 10, 11]  # 11: the prune itself
    assert rows[-1].action == "prune_audit" and rows[-1].details["removed"] == 6
    assert "5 rows verified" in verifyaudit()
    checkpoint = AuditCheckpoint.objects.get()
    assert (checkpoint.seq, checkpoint.removed) == (6, 6)


def test_prune_accepts_a_date_and_finds_nothing_to_remove() -> None:
    populate(3)
    assert "no audit rows before" in prune(dt.date(2000, 1, 1))  # type: ignore[arg-type]
    assert len(entries()) == 3


def test_prune_refuses_a_chain_that_does_not_verify() -> None:
    populate(6)
    _age(range(1, 5), days=100)
    AuditLogEntry.objects.filter(seq=2).update(reason="laundered")
    with pytest.raises(CommandError, match=r"not pruning a broken chain.*seq 2"):
        prune(timezone.now() - dt.timedelta(days=30))
    assert len(entries()) == 6


def test_after_a_prune_tampering_is_still_named() -> None:
    populate(8)
    _age(range(1, 5), days=100)
    prune(timezone.now() - dt.timedelta(days=30))
    AuditLogEntry.objects.filter(seq=6).delete()
    assert "seq 6 is missing" in failure()


def test_an_edited_or_deleted_checkpoint_is_named() -> None:
    populate(8)
    _age(range(1, 5), days=100)
    prune(timezone.now() - dt.timedelta(days=30))
    AuditCheckpoint.objects.update(removed=1)
    assert "checkpoint at seq 4 was edited" in failure()
    AuditCheckpoint.objects.all().delete()
    assert "seq 1 is missing" in failure()


def test_a_row_inserted_before_the_checkpoint_is_named() -> None:
    rows = populate(6)
    _age(range(1, 4), days=100)
    prune(timezone.now() - dt.timedelta(days=30))
    stray = {f.attname: getattr(rows[0], f.attname) for f in AuditLogEntry._meta.concrete_fields}
    stray.update(id=None, seq=2)
    AuditLogEntry.objects.create(**stray)
    assert "seq 2" in failure() and "before the checkpoint" in failure()


def test_a_wiped_log_is_noticed_once_a_head_was_verified() -> None:
    populate(3)
    verifyaudit()
    AuditLogEntry.objects.all().delete()
    AuditChainHead.objects.all().delete()
    assert "went back from seq 3" in failure()


def test_a_recorded_event_costs_a_handful_of_queries(django_assert_max_num_queries) -> None:
    populate(1)
    with django_assert_max_num_queries(6):
        audit.record("warm", reason="one more")
