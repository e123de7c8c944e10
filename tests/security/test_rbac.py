"""RBAC on partitions: who holds what (object, group, global, superuser), audited
denials, prefetched bulk checks at a constant query count, and no orphaned
permissions once a partition leaves the settings."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import modify_settings
from django.test.utils import CaptureQueriesContext
from guardian.models import GroupObjectPermission, UserObjectPermission

from spotify_cache.models import CachePartition
from spotify_cache.security import audit, rbac
from spotify_cache.security.partitions_sync import sync_partitions
from tests.security.rbac_support import (
    denials,
    fresh,
    grant,
    group_with,
    synced_rows,
    user,
)

pytestmark = pytest.mark.django_db

SPOTIFY = "spotify_cache.backend.SpotifyCache"


def test_permission_names_are_accepted_in_each_spelling_and_typos_refused() -> None:
    for spelling in (
        "invalidate",
        "invalidate_cachepartition",
        "spotify_cache.invalidate_cachepartition",
    ):
        assert rbac.codename(spelling) == "invalidate_cachepartition"
    assert set(rbac.PERMISSIONS) == {
        "view",
        "invalidate",
        "warm",
        "clear",
        "rotatekeys",
        "viewaudit",
    }
    with pytest.raises(ValueError, match="unknown partition permission"):
        rbac.codename("invalidte")


def test_object_group_global_and_superuser_permissions(cache) -> None:
    rows = synced_rows()
    listeners, catalog = rows["listeners"], rows["catalog"]
    alice, bob, carol, root = user("alice"), user("bob"), user("carol"), user("root")
    grant(alice, "invalidate", listeners)
    group_with("editors", "invalidate", catalog, bob)
    grant(carol, "invalidate")  # global: every partition, rows or not
    root.is_superuser = True
    root.save()

    assert rbac.has(alice, "invalidate", listeners)
    assert not rbac.has(alice, "invalidate", catalog)
    assert not rbac.has(alice, "warm", listeners)  # one permission, not all
    assert rbac.has(bob, "invalidate", catalog) and not rbac.has(bob, "invalidate", listeners)
    carol = fresh(carol)
    assert all(rbac.has(carol, "invalidate", row) for row in rows.values())
    assert rbac.has(carol, "invalidate", None)  # a partition without a row
    assert not rbac.has(alice, "invalidate", None)  # object permissions need a row
    assert all(rbac.has(root, perm, catalog) for perm in rbac.PERMISSIONS)


def test_anonymous_inactive_and_missing_users_hold_nothing(cache) -> None:
    listeners = synced_rows()["listeners"]
    dave = user("dave")
    grant(dave, "invalidate", listeners)
    grant(dave, "invalidate")
    dave.is_active = False
    dave.save()
    for nobody in (AnonymousUser(), fresh(dave), None):
        assert not rbac.has(nobody, "invalidate", listeners)
        assert not rbac.has(nobody, "invalidate", None)


def test_require_records_the_denial_then_raises(cache) -> None:
    catalog = synced_rows()["catalog"]
    alice = user("alice")
    with pytest.raises(
        PermissionDenied, match=r"alice lacks .*invalidate_cachepartition on default/catalog"
    ):
        rbac.require(alice, "invalidate", catalog, operation="invalidate_partition")
    [entry] = denials()
    assert (entry.actor_id, entry.actor_label, entry.outcome) == (alice.pk, "alice", "denied")
    assert (entry.alias, entry.partition) == ("default", "catalog")
    assert entry.reason == "lacks spotify_cache.invalidate_cachepartition (invalidate_partition)"
    assert entry.details["permission"] == "invalidate_cachepartition"
    grant(alice, "invalidate", catalog)
    rbac.require(alice, "invalidate", catalog)  # no exception, nothing recorded
    assert len(denials()) == 1


def test_require_all_names_every_partition_lacking_in_one_row(cache) -> None:
    rows = synced_rows()
    alice = user("alice")
    grant(alice, "invalidate", rows["listeners"])
    with pytest.raises(PermissionDenied) as denied:
        rbac.require_all(alice, "invalidate", "default", rows, operation="invalidate_tags")
    assert "default/catalog, default/default" in str(denied.value)
    [entry] = denials()
    assert entry.partition == "" and entry.details["partitions"] == ["catalog", "default"]


def twenty_partitions(settings) -> list[CachePartition]:
    settings.CACHES = {
        "default": {
            "BACKEND": SPOTIFY,
            "LOCATION": "memory://rbac-twenty",
            "OPTIONS": {"PARTITIONS": {f"p{n:02}": {"PREFIX": f"p{n:02}:"} for n in range(20)}},
        }
    }
    sync_partitions()
    return list(CachePartition.objects.filter(alias="default").exclude(name="default"))


def test_a_check_over_20_partitions_costs_4_queries_prefetched(
    settings, django_assert_num_queries
) -> None:
    rows = twenty_partitions(settings)
    alice, bob = user("alice"), user("bob")
    for row in rows[:8]:
        grant(alice, "invalidate", row)
    for row in rows[8:12]:
        group_with(f"g-{row.name}", "invalidate", row, alice)
    grant(bob, "invalidate", rows[0])
    rbac.permitted(bob, "invalidate", rows)  # content types cached, as in a running site

    alice = fresh(alice)
    # global permissions (user, groups: cached on the user), then guardian's
    # prefetch (user, groups): the same four whatever the number of partitions
    with django_assert_num_queries(4):
        allowed, refused = rbac.permitted(alice, "invalidate", rows)
    assert [r.name for r in allowed] == [f"p{n:02}" for n in range(12)]
    assert len(refused) == 8

    alice = fresh(alice)
    with django_assert_num_queries(4):
        rbac.permitted(alice, "invalidate", rows[:2])

    alice = fresh(alice)  # require_all looks the rows up: one query more
    with django_assert_num_queries(5):
        rbac.require_all(alice, "invalidate", "default", [r.name for r in rows[:12]])

    # what the prefetch saves: guardian's backend, one object at a time
    alice = fresh(alice)
    with CaptureQueriesContext(connection) as naive:
        assert sum(alice.has_perm("spotify_cache.invalidate_cachepartition", r) for r in rows) == 12
    assert len(naive) >= 2 * len(rows)


def object_permissions(row: CachePartition) -> int:
    pk = str(row.pk)
    return (
        UserObjectPermission.objects.filter(
            object_pk=pk, content_type__model="cachepartition"
        ).count()
        + GroupObjectPermission.objects.filter(
            object_pk=pk, content_type__model="cachepartition"
        ).count()
    )


def orphans() -> int:
    """Object permissions on partitions that are removed or gone."""
    live = {
        str(pk)
        for pk in CachePartition.objects.filter(removed_at=None).values_list("pk", flat=True)
    }
    held = [
        *UserObjectPermission.objects.filter(content_type__model="cachepartition").values_list(
            "object_pk", flat=True
        ),
        *GroupObjectPermission.objects.filter(content_type__model="cachepartition").values_list(
            "object_pk", flat=True
        ),
    ]
    return sum(pk not in live for pk in held)


def test_a_partition_removed_from_settings_takes_its_permissions(cache, settings) -> None:
    rows = synced_rows()
    listeners, catalog = rows["listeners"], rows["catalog"]
    alice = user("alice")
    for perm in ("invalidate", "warm", "viewaudit"):
        grant(alice, perm, catalog)
    grant(alice, "invalidate", listeners)
    group_with("ops", "clear", catalog, alice)
    assert object_permissions(catalog) == 4

    options = settings.CACHES["default"]["OPTIONS"]
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "OPTIONS": {"PARTITIONS": {"listeners": options["PARTITIONS"]["listeners"]}},
        }
    }
    assert sync_partitions().removed == 1
    assert object_permissions(catalog) == 0 and orphans() == 0
    assert object_permissions(listeners) == 1  # the others' stay

    settings.CACHES = {"default": {**settings.CACHES["default"], "OPTIONS": options}}
    sync_partitions()
    back = CachePartition.objects.get(alias="default", name="catalog")
    assert back.pk == catalog.pk and back.removed_at is None
    assert not rbac.has(fresh(alice), "invalidate", back)  # back with no permissions


def test_a_deleted_row_takes_its_permissions(cache) -> None:
    catalog = synced_rows()["catalog"]
    grant(user("alice"), "invalidate", catalog)
    group_with("ops", "invalidate", catalog)
    catalog.delete()
    assert orphans() == 0 and UserObjectPermission.objects.count() == 0


def test_denials_are_recorded_inside_an_acting_as_block_as_the_user(cache, rf) -> None:
    catalog = synced_rows()["catalog"]
    alice = user("alice")
    request = rf.get("/", REMOTE_ADDR="198.51.100.7", HTTP_X_REQUEST_ID="req-1")
    request.user = alice
    with audit.acting_as(alice, request), pytest.raises(PermissionDenied):
        rbac.require(alice, "warm", catalog, request=request)
    [entry] = denials()
    assert (entry.remote_addr, entry.request_id) == ("198.51.100.7", "req-1")


def test_without_guardian_only_global_permissions_count(cache, settings) -> None:
    rows = synced_rows()
    alice, carol = user("alice"), user("carol")
    grant(alice, "invalidate", rows["listeners"])
    grant(carol, "invalidate")
    with modify_settings(INSTALLED_APPS={"remove": ["guardian"]}):
        assert not rbac.guardian_enabled()
        assert not rbac.has(fresh(alice), "invalidate", rows["listeners"])
        assert rbac.has(fresh(carol), "invalidate", rows["listeners"])
        assert list(rbac.visible_partitions(fresh(alice))) == []
        assert rbac.forget_permissions(rows["listeners"]) == 0
    assert rbac.has(fresh(alice), "invalidate", rows["listeners"])
