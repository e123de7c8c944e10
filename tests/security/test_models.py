"""The models: migrations in step, RBAC permissions defined, partition rows synced."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command

from spotify_cache.models import CachePartition
from spotify_cache.security import partitions_sync
from spotify_cache.security.partitions_sync import partition_removed, sync_partitions
from tests.helpers import Collector

pytestmark = pytest.mark.django_db

SPOTIFY = "spotify_cache.backend.SpotifyCache"


def test_makemigrations_check_is_clean() -> None:
    out = io.StringIO()
    call_command("makemigrations", "spotify_cache", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_the_rbac_permissions_exist_on_cachepartition() -> None:
    codenames = set(
        Permission.objects.filter(content_type__app_label="spotify_cache").values_list(
            "codename", flat=True
        )
    )
    assert {
        "view_cachepartition",
        "invalidate_cachepartition",
        "warm_cachepartition",
        "clear_cachepartition",
        "rotatekeys_cachepartition",
        "viewaudit_cachepartition",
        "view_auditlogentry",
    } <= codenames
    assert not {"add_cachepartition", "change_auditlogentry", "delete_auditlogentry"} & codenames


def _caches(**partitions: dict) -> dict:
    return {
        "default": {"BACKEND": SPOTIFY, "LOCATION": "memory://sync-a", "OPTIONS": {}},
        "music": {
            "BACKEND": SPOTIFY,
            "LOCATION": "redis://127.0.0.1:1/0",  # never connected: read from settings only
            "OPTIONS": {"PARTITIONS": partitions, "NEAR_CACHE": {}},
        },
        "other": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }


def rows() -> dict[tuple[str, str], CachePartition]:
    return {(r.alias, r.name): r for r in CachePartition.objects.all()}


def test_migrate_syncs_a_row_per_partition_of_each_spotify_cache(settings) -> None:
    settings.CACHES = _caches(
        listeners={"PREFIX": "spotify:user:", "TIMEOUT": 3600, "MAX_TIMEOUT": 86400},
        catalog={"PREFIX": "spotify:track:", "SERIALIZER": "json", "NEAR_CACHE": None},
    )
    call_command("migrate", verbosity=0)
    found = rows()
    assert set(found) == {
        ("default", "default"),
        ("music", "default"),
        ("music", "listeners"),
        ("music", "catalog"),
    }
    listeners = found["music", "listeners"]
    assert listeners.prefix == "spotify:user:"
    assert listeners.policy["timeout"] == 3600 and listeners.policy["max_timeout"] == 86400
    assert found["music", "catalog"].policy["codec"] == {"SERIALIZER": "json"}
    assert found["default", "default"].policy["timeout"] == "cache default"


def test_a_changed_policy_is_updated_and_an_unchanged_one_left_alone(settings) -> None:
    settings.CACHES = _caches(listeners={"PREFIX": "spotify:user:"})
    sync_partitions()
    settings.CACHES = _caches(listeners={"PREFIX": "spotify:listener:"})
    result = sync_partitions()
    assert (result.created, result.updated, result.removed) == (0, 1, 0)
    assert rows()["music", "listeners"].prefix == "spotify:listener:"
    assert sync_partitions() == partitions_sync.SyncResult()


def test_a_partition_no_longer_configured_is_marked_removed_once_and_announced(settings) -> None:
    settings.CACHES = _caches(listeners={"PREFIX": "spotify:user:"}, catalog={"PREFIX": "t:"})
    sync_partitions()
    kept_pk = rows()["music", "catalog"].pk
    settings.CACHES = _caches(listeners={"PREFIX": "spotify:user:"})
    with Collector(partition_removed) as removed:
        assert sync_partitions().removed == 1
        assert sync_partitions().removed == 0  # announced once
    [call] = removed.calls
    assert call["partition"].pk == kept_pk and call["partition"].removed_at is not None
    assert rows()["music", "catalog"].removed_at is not None
    assert rows()["music", "listeners"].removed_at is None

    settings.CACHES = _caches(listeners={"PREFIX": "spotify:user:"}, catalog={"PREFIX": "t:"})
    sync_partitions()
    assert (
        rows()["music", "catalog"].removed_at is None and rows()["music", "catalog"].pk == kept_pk
    )


def test_an_invalid_partitions_setting_is_skipped_not_fatal(settings, caplog) -> None:
    settings.CACHES = _caches(bad={"PREFIX": ""})
    sync_partitions()
    assert ("music", "bad") not in rows() and ("music", "default") not in rows()
    assert "PARTITIONS is invalid" in caplog.text
