"""What the audit log records, and that it never records a raw key or a value."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import RequestFactory

from spotify_cache import signals
from spotify_cache.security import audit
from tests.security.conftest import entries

pytestmark = pytest.mark.django_db

SECRET_VALUE = "listener-42-private-payload"


def test_a_rejected_value_is_recorded_by_reason_with_a_keyed_hash(cache) -> None:
    key = "spotify:user:42:top"
    cache.set(key, SECRET_VALUE)
    store_key = cache.make_key(key)
    blob = cache.store.get(store_key)
    cache.store.set(store_key, blob[:-1] + bytes([blob[-1] ^ 1]), None)  # one bit flipped

    assert cache.get(key) is None

    [entry] = entries()
    assert (entry.action, entry.outcome, entry.reason) == ("value_rejected", "rejected", "auth")
    assert (entry.alias, entry.partition) == ("default", "listeners")
    assert entry.key_hash == audit.key_hash(store_key)
    assert len(entry.key_hash) == 64 and entry.key_hash != audit.key_hash(key)
    stored = str([getattr(entry, f.attname) for f in entry._meta.concrete_fields])
    assert "spotify:user" not in stored and SECRET_VALUE not in stored


def test_the_key_hash_depends_on_the_secret_key(settings) -> None:
    before = audit.key_hash("audit:1:spotify:user:1")
    settings.SECRET_KEY = "another-secret-key-for-this-test"
    assert audit.key_hash("audit:1:spotify:user:1") != before


def test_invalidatecache_is_recorded_with_the_os_user_and_hashed_targets(cache) -> None:
    call_command("invalidatecache", "--key", "spotify:user:7:top", stdout=io.StringIO())
    call_command("invalidatecache", "--partition", "catalog", stdout=io.StringIO())
    call_command("invalidatecache", "--tag", "listener:7", stdout=io.StringIO())

    key_entry, partition_entry, tag_entry = entries()
    assert key_entry.action == "invalidate" and key_entry.reason == "manage.py invalidatecache"
    assert key_entry.actor_label == audit.command_actor().label and key_entry.actor_id is None
    assert key_entry.partition == "listeners"
    assert key_entry.key_hash == audit.key_hash(cache.make_key("spotify:user:7:top"))
    assert key_entry.details["kind"] == "key" and key_entry.details["cause"] == "command"
    assert partition_entry.partition == "catalog" and partition_entry.details["targets"] == [
        "catalog"
    ]
    assert tag_entry.details["targets"] == [audit.key_hash("tag:listener:7")]
    assert "listener:7" not in str(tag_entry.details)


def test_the_applications_own_and_model_invalidations_are_not_recorded(cache) -> None:
    cache.invalidate("spotify:user:1:top")
    cache.invalidate_tags("artist:1", cause="model", reason="binding")
    cache.invalidate_partition("catalog")
    assert entries() == []


def test_invalidations_inside_acting_as_are_attributed_to_the_user_and_request(cache) -> None:
    user = get_user_model().objects.create_user("alice", password="x", is_staff=True)
    request = RequestFactory().post(
        "/admin/", REMOTE_ADDR="::ffff:10.1.2.3", HTTP_X_REQUEST_ID="req-9"
    )
    request.user = user
    with audit.acting_as(user, request):
        cache.invalidate_partition("listeners", reason="admin action")

    [entry] = entries()
    assert (entry.actor_id, entry.actor_ref, entry.actor_label) == (user.pk, str(user.pk), "alice")
    assert (entry.remote_addr, entry.request_id) == ("10.1.2.3", "req-9")
    assert (entry.partition, entry.reason) == ("listeners", "admin action")


def test_record_is_the_entry_point_of_rbac_warming_and_rotation(cache) -> None:
    user = get_user_model().objects.create_user("bob", password="x")
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.7")
    request.user = user
    assert audit.record(
        "permission_denied",
        actor=user,
        alias="default",
        partition="catalog",
        key=cache.make_key("spotify:track:3"),
        outcome="denied",
        reason="lacks invalidate_cachepartition",
        request=request,
        details={"permission": "spotify_cache.invalidate_cachepartition", "ids": (1, 2)},
    )
    [entry] = entries()
    assert (entry.action, entry.outcome, entry.actor_label) == (
        "permission_denied",
        "denied",
        "bob",
    )
    assert entry.remote_addr == "192.0.2.7"
    assert entry.details == {"permission": "spotify_cache.invalidate_cachepartition", "ids": [1, 2]}


def test_record_refuses_unknown_actions_and_outcomes() -> None:
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.record("teleport")
    with pytest.raises(ValueError, match="unknown audit outcome"):
        audit.record("warm", outcome="meh")


def test_a_circuit_change_is_recorded() -> None:
    circuit_changed = getattr(signals, "circuit_changed", None)
    if circuit_changed is None:
        pytest.skip("signals.circuit_changed comes with stores.failover")
    circuit_changed.send(
        sender=object,
        location="redis://10.0.0.5:6379/0",
        namespace="audit:*:*",
        store="RedisStore",
        old="closed",
        new="open",
        reason="StoreUnavailable (TimeoutError)",
    )
    [entry] = entries()
    assert (entry.action, entry.outcome) == ("circuit_changed", "failed")
    assert entry.reason == "closed -> open: StoreUnavailable (TimeoutError)"
    assert entry.details["location"] == "redis://10.0.0.5:6379/0"


def test_a_deleted_user_leaves_the_label_and_the_chain_intact() -> None:
    from spotify_cache.security.verify import verify

    user = get_user_model().objects.create_user("carol", password="x")
    audit.record("clear", actor=user, alias="default", reason="admin clear")
    user.delete()
    [entry] = entries()
    assert entry.actor_id is None and entry.actor_label == "carol"
    assert verify().ok


@pytest.mark.parametrize("value", [0, -5, "100", True])
def test_a_bad_queue_size_is_refused_naming_the_setting(settings, value) -> None:
    from django.core.exceptions import ImproperlyConfigured

    settings.SPOTIFY_CACHE_AUDIT_QUEUE_SIZE = value
    with pytest.raises(ImproperlyConfigured, match="SPOTIFY_CACHE_AUDIT_QUEUE_SIZE"):
        audit.config()
