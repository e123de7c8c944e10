"""The partitions admin: read-only rows with policy and key counts, guardian's
permission screens, and the invalidate / warm / clear actions gated per partition
and audited; the audit log admin filtered to the partitions a user may ``viewaudit``."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from spotify_cache.admin import count_keys
from spotify_cache.models import AuditLogEntry
from spotify_cache.security import operations, rbac
from tests.security.conftest import populate
from tests.security.rbac_support import denials, grant, synced_rows, user

pytestmark = pytest.mark.django_db

PARTITIONS = "admin:spotify_cache_cachepartition_changelist"
AUDIT = "admin:spotify_cache_auditlogentry_changelist"


@pytest.fixture
def rows(cache):
    for n in range(3):
        cache.set(f"spotify:user:{n}", n)
    cache.set("spotify:track:1", "t")
    return synced_rows()


def signed_in(client: Any, account: Any) -> Any:
    client.force_login(account)
    return client


def act(client: Any, action: str, *selected: Any) -> list[tuple[str, str]]:
    """Run an admin action on rows; the (level, text) of the messages shown after."""
    page = client.post(
        reverse(PARTITIONS),
        {"action": action, "_selected_action": [r.pk for r in selected], "index": 0},
        REMOTE_ADDR="203.0.113.9",
        follow=True,
    )
    assert page.status_code == 200
    return [(m.level_tag, m.message) for m in page.context["messages"]]


def test_partitions_are_listed_with_policy_and_the_keys_they_hold(admin_client, rows) -> None:
    page = admin_client.get(reverse(PARTITIONS))
    html = page.content.decode()
    assert page.context["cl"].result_count == 3
    assert "timeout 60 s" in html and "timeout cache default" in html
    keys = [cell.split("<")[0] for cell in html.split('class="field-keys">')[1:]]
    assert sorted(keys) == ["0", "1", "3"]  # default, catalog, listeners


def test_key_counts_are_capped_and_skipped_where_not_cheap(rows, settings, redis_url) -> None:
    counts, capped = count_keys("default", limit=2)
    assert capped and sum(counts.values()) == 2
    assert count_keys("default") == ({"listeners": 3, "catalog": 1}, False)
    settings.CACHES = {
        **settings.CACHES,
        "remote": {"BACKEND": "spotify_cache.backend.SpotifyCache", "LOCATION": redis_url},
    }
    assert count_keys("remote") is None  # Redis: a SCAN of the database, not cheap
    assert count_keys("gone") is None


def test_rows_stay_read_only_even_for_a_superuser(admin_client, rows) -> None:
    listeners = rows["listeners"]
    change = reverse("admin:spotify_cache_cachepartition_change", args=[listeners.pk])
    page = admin_client.get(change)
    assert page.status_code == 200 and b"Save" not in page.content
    assert b"Object permissions" in page.content  # guardian's link
    assert admin_client.post(change, {"prefix": "x"}).status_code == 403
    assert admin_client.get(reverse("admin:spotify_cache_cachepartition_add")).status_code == 403
    actions = admin_client.get(reverse(PARTITIONS)).context["action_form"].fields["action"]
    assert {name for name, _ in actions.choices} == {
        "",
        "invalidate_selected",
        "warm_selected",
        "clear_selected",
    }


def test_a_superuser_grants_object_permissions_through_guardians_screens(
    admin_client, rows, settings
) -> None:
    alice, listeners = user("alice"), rows["listeners"]
    screen = reverse("admin:spotify_cache_cachepartition_permissions", args=[listeners.pk])
    assert admin_client.get(screen).status_code == 200
    picked = admin_client.post(screen, {"user": "alice", "submit_manage_user": "1"})
    manage = reverse(
        "admin:spotify_cache_cachepartition_permissions_manage_user",
        args=[listeners.pk, alice.pk],
    )
    assert picked.status_code == 302 and picked["Location"] == manage
    saved = admin_client.post(
        manage, {"permissions": ["invalidate_cachepartition", "viewaudit_cachepartition"]}
    )
    assert saved.status_code == 302
    assert rbac.has(alice, "invalidate", listeners) and rbac.has(alice, "viewaudit", listeners)
    assert not rbac.has(alice, "warm", listeners)

    options = settings.CACHES["default"]["OPTIONS"]
    settings.CACHES["default"]["OPTIONS"] = {"PARTITIONS": {}}
    synced_rows()  # listeners removed: no permissions granted on it any more
    assert admin_client.get(screen).status_code == 404
    settings.CACHES["default"]["OPTIONS"] = options


def test_staff_without_guardians_change_permissions_cannot_grant(client, rows) -> None:
    alice, listeners = user("alice"), rows["listeners"]
    grant(alice, "view", listeners)
    screen = reverse("admin:spotify_cache_cachepartition_permissions", args=[listeners.pk])
    assert signed_in(client, alice).get(screen).status_code == 302  # to the index
    manage = reverse(
        "admin:spotify_cache_cachepartition_permissions_manage_user",
        args=[listeners.pk, alice.pk],
    )
    client.post(manage, {"permissions": ["invalidate_cachepartition"]})
    assert not rbac.has(alice, "invalidate", listeners)


def test_a_user_sees_only_the_partitions_they_hold_a_permission_on(client, rows) -> None:
    alice, bob = user("alice"), user("bob")
    grant(alice, "warm", rows["listeners"])
    page = signed_in(client, alice).get(reverse(PARTITIONS))
    assert [r.name for r in page.context["cl"].result_list] == ["listeners"]
    catalog = reverse("admin:spotify_cache_cachepartition_change", args=[rows["catalog"].pk])
    assert client.get(catalog).status_code == 302  # not visible: "doesn't exist" redirect
    assert signed_in(client, bob).get(reverse(PARTITIONS)).status_code == 403


def test_invalidate_runs_where_permitted_and_is_refused_and_recorded_elsewhere(
    client, cache, rows
) -> None:
    alice, listeners, catalog = user("alice"), rows["listeners"], rows["catalog"]
    grant(alice, "view", catalog)
    grant(alice, "invalidate", listeners)
    shown = act(signed_in(client, alice), "invalidate_selected", listeners, catalog)
    assert ("success", "Invalidated 1 partition: default/listeners.") in shown
    assert (
        "error",
        "Permission denied (recorded): you may not invalidate 1 partition: default/catalog.",
    ) in shown
    assert cache.get("spotify:user:1") is None and cache.get("spotify:track:1") == "t"

    [done] = AuditLogEntry.objects.filter(action="invalidate")
    assert (done.actor_id, done.partition, done.remote_addr) == (
        alice.pk,
        "listeners",
        "203.0.113.9",
    )
    assert done.details["cause"] == "admin"
    [denied] = denials()
    assert (denied.actor_id, denied.partition, denied.outcome) == (alice.pk, "catalog", "denied")
    assert denied.remote_addr == "203.0.113.9"


def test_warm_reports_no_warmers_and_calls_the_hook_when_one_is_registered(
    admin_client, rows
) -> None:
    listeners = rows["listeners"]
    shown = act(admin_client, "warm_selected", listeners)
    assert shown == [("warning", "Warm default/listeners: no warmers registered.")]
    [entry] = AuditLogEntry.objects.filter(action="warm")
    assert (entry.outcome, entry.reason, entry.partition) == (
        "failed",
        "no warmers registered",
        "listeners",
    )

    def warmer(sender: Any, cache: Any, partition: Any, **_: Any) -> str:
        cache.set("spotify:user:warm", 1)
        return f"warmed {partition.name}"

    operations.warm_requested.connect(warmer)
    try:
        shown = act(admin_client, "warm_selected", listeners)
    finally:
        operations.warm_requested.disconnect(warmer)
    assert shown == [("success", "Warm default/listeners: 1 warmer(s) ran.")]
    assert caches["default"].get("spotify:user:warm") == 1
    assert AuditLogEntry.objects.filter(action="warm", outcome="ok").count() == 1


def test_clear_needs_clear_on_every_partition_of_the_cache(client, cache, rows) -> None:
    alice = user("alice")
    grant(alice, "clear", rows["listeners"])
    shown = act(signed_in(client, alice), "clear_selected", rows["listeners"])
    assert shown[0][0] == "error" and "default/catalog, default/default" in shown[0][1]
    assert cache.get("spotify:track:1") == "t"
    for name in ("catalog", "default"):
        grant(alice, "clear", rows[name])
    shown = act(client, "clear_selected", rows["listeners"])
    assert shown == [("success", "Cleared cache default (catalog, default, listeners).")]
    assert cache.get("spotify:track:1") is None
    [entry] = AuditLogEntry.objects.filter(action="clear")
    assert entry.actor_id == alice.pk


def test_the_audit_log_shows_a_user_the_partitions_they_may_viewaudit(client, rows) -> None:
    populate(2, alias="default", partition="listeners")
    populate(3, alias="default", partition="catalog")
    populate(1)  # no partition: global readers only
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    grant(alice, "viewaudit", rows["listeners"])
    grant(bob, "view", rows["listeners"])  # viewing the partition is not reading its log
    grant(carol, "viewaudit")

    page = signed_in(client, alice).get(reverse(AUDIT))
    assert page.status_code == 200 and page.context["cl"].result_count == 2
    assert {e.partition for e in page.context["cl"].result_list} == {"listeners"}
    lookups = [spec for spec in page.context["cl"].filter_specs if spec.title == "partition"]
    assert [value for value, _ in lookups[0].lookup_choices] == ["listeners"]
    other = AuditLogEntry.objects.filter(partition="catalog").first()
    detail = reverse("admin:spotify_cache_auditlogentry_change", args=[other.pk])
    assert client.get(detail).status_code == 302  # out of scope: not found
    assert client.get(reverse(AUDIT), {"partition": "catalog"}).context["cl"].result_count == 0

    assert signed_in(client, bob).get(reverse(AUDIT)).status_code == 403
    assert signed_in(client, carol).get(reverse(AUDIT)).context["cl"].result_count == 6


def test_the_scoped_audit_log_costs_the_same_queries_for_few_or_many_rows(client, rows) -> None:
    alice = user("alice")
    grant(alice, "viewaudit", rows["listeners"])
    grant(alice, "viewaudit", rows["catalog"])
    signed_in(client, alice)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse(AUDIT)).status_code == 200
        return len(captured)

    populate(3, alias="default", partition="listeners")
    few = queries()
    populate(40, alias="default", partition="catalog")
    assert queries() == few
