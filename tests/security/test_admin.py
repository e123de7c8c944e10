"""The admin: the audit log read-only even for a superuser, filtered, fast on big
tables, with a badge when the last verifyaudit failed; partitions with their policy."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from spotify_cache.models import AuditLogEntry, AuditVerification
from spotify_cache.security import verify
from tests.security.conftest import populate

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:spotify_cache_auditlogentry_changelist"


def test_a_superuser_can_view_but_never_add_change_or_delete(admin_client) -> None:
    [entry] = populate(1)
    assert admin_client.get(reverse(CHANGELIST)).status_code == 200
    detail = admin_client.get(reverse("admin:spotify_cache_auditlogentry_change", args=[entry.pk]))
    assert detail.status_code == 200 and b"Save" not in detail.content  # a view page
    assert admin_client.get(reverse("admin:spotify_cache_auditlogentry_add")).status_code == 403
    delete = reverse("admin:spotify_cache_auditlogentry_delete", args=[entry.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    change = reverse("admin:spotify_cache_auditlogentry_change", args=[entry.pk])
    assert admin_client.post(change, {"reason": "rewritten"}).status_code == 403
    assert AuditLogEntry.objects.get().reason == "event 0" and verify.verify().ok


def test_filters_by_action_outcome_partition_and_actor(admin_client) -> None:
    alice = get_user_model().objects.create_user("alice", is_staff=True)
    populate(2, actor=alice, partition="listeners")
    populate(3)
    page = admin_client.get(reverse(CHANGELIST), {"actor": str(alice.pk)})
    assert page.context["cl"].result_count == 2
    page = admin_client.get(reverse(CHANGELIST), {"partition": "listeners", "outcome": "denied"})
    assert page.context["cl"].result_count == 2
    page = admin_client.get(reverse(CHANGELIST), {"actor": "none", "action": "permission_denied"})
    assert page.context["cl"].result_count == 3
    page = admin_client.get(reverse(CHANGELIST), {"q": "alice"})
    assert page.context["cl"].result_count == 2
    alice.username = "alice2"
    alice.save()
    assert b"alice (now alice2)" in admin_client.get(reverse(CHANGELIST)).content


def test_the_changelist_costs_the_same_queries_for_5_or_60_rows_with_actors(admin_client) -> None:
    users = [get_user_model().objects.create_user(f"u{n}", is_staff=True) for n in range(6)]

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(reverse(CHANGELIST)).status_code == 200
        return len(captured)

    for user in users[:1]:
        populate(5, actor=user)
    few = queries()
    for user in users:
        populate(10, actor=user)
    assert queries() == few
    assert admin_client.get(reverse(CHANGELIST)).context["cl"].show_full_result_count is False


def test_the_badge_says_when_the_last_verification_failed(admin_client) -> None:
    populate(3)
    page = admin_client.get(reverse(CHANGELIST))
    assert b"never verified" in page.content
    verify.save_report(verify.verify())
    assert b"Audit log verified" in admin_client.get(reverse(CHANGELIST)).content
    AuditLogEntry.objects.filter(seq=2).update(reason="edited")
    verify.save_report(verify.verify())
    page = admin_client.get(reverse(CHANGELIST))
    assert b"Audit log verification FAILED" in page.content and b"seq 2" in page.content
    assert not AuditVerification.objects.latest().ok


def test_partitions_are_listed_with_their_policy_read_only(admin_client) -> None:
    page = admin_client.get(reverse("admin:spotify_cache_cachepartition_changelist"))
    assert page.status_code == 200 and b"cache default" in page.content
    assert admin_client.get(reverse("admin:spotify_cache_cachepartition_add")).status_code == 403
