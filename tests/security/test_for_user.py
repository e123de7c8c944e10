"""``CacheManager.for_user`` and ``invalidatecache --as-user``: each privileged call
checked on the partitions it reaches, denials audited, the rest recorded as the user's."""

from __future__ import annotations

import inspect
import io

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError

from spotify_cache import CacheManager
from spotify_cache.models import AuditLogEntry
from spotify_cache.security import audit, scoped
from tests.security.rbac_support import denials, fresh, grant, synced_rows, user

pytestmark = pytest.mark.django_db

LISTENER = "spotify:user:42:top"
TRACK = "spotify:track:9"
#: CacheManager's calls on the data path: passed through unchecked.
DATA_PATH = {
    "get",
    "set",
    "get_many",
    "set_many",
    "get_or_set",
    "incr",
    "touch",
    "aget",
    "aset",
    "aget_or_set",
    "for_user",
}


@pytest.fixture
def rows(cache):
    cache.set(LISTENER, "top")
    cache.set(TRACK, "track")
    cache.set("elsewhere", "default partition")
    return synced_rows()


@pytest.fixture
def alice(rows):
    """May invalidate the listeners partition only."""
    account = user("alice")
    grant(account, "invalidate", rows["listeners"])
    return account


def invalidations() -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.filter(action="invalidate").order_by("seq"))


def test_every_public_call_of_the_facade_is_either_checked_or_on_the_data_path() -> None:
    public = {
        name
        for name, member in inspect.getmembers(CacheManager)
        if callable(member) and not name.startswith("_")
    }
    assert public == scoped.PRIVILEGED | DATA_PATH, "classify the new call in scoped.PRIVILEGED"
    for name in scoped.PRIVILEGED:
        assert name in vars(scoped.UserCacheManager), name


def test_a_key_needs_the_permission_on_its_partition(cache, alice) -> None:
    handle = CacheManager("default").for_user(alice)
    assert handle.invalidate(LISTENER) == 1 and cache.get(LISTENER) is None
    [entry] = invalidations()
    assert (entry.actor_id, entry.partition, entry.outcome) == (alice.pk, "listeners", "ok")

    with pytest.raises(PermissionDenied, match="default/catalog"):
        handle.invalidate(TRACK)
    assert cache.get(TRACK) == "track"
    [denial] = denials()
    assert (denial.actor_id, denial.partition) == (alice.pk, "catalog")
    assert denial.key_hash == audit.key_hash(cache.make_key(TRACK))
    assert denial.reason.endswith("(invalidate)")


def test_a_glob_needs_the_permission_on_every_partition_it_can_reach(cache, alice) -> None:
    assert scoped.literal_prefix(r"spotify:user:4\*2:*") == "spotify:user:4*2:"
    assert scoped.glob_partitions(cache, "spotify:user:*") == {"listeners"}
    assert scoped.glob_partitions(cache, "spotify:*") == {"listeners", "catalog", "default"}
    assert scoped.glob_partitions(cache, "spotify:us*") == {"listeners", "default"}
    handle = CacheManager("default").for_user(alice)
    assert handle.invalidate("spotify:user:4?:*") == 1
    for reaching_further in ("spotify:*", "*:top", "spotify:[ut]*"):
        with pytest.raises(PermissionDenied):
            handle.invalidate(reaching_further)
    assert cache.get(TRACK) == "track"
    assert all(d.key_hash == "" for d in denials())  # globs are never recorded


def test_tags_need_the_permission_on_every_partition(cache, rows, alice) -> None:
    cache.set("spotify:user:1", "tagged", tags=["artist:7"])
    handle = CacheManager("default").for_user(alice)
    with pytest.raises(PermissionDenied):
        handle.invalidate_tags("artist:7")
    assert cache.get("spotify:user:1") == "tagged"
    assert denials()[0].details["partitions"] == ["catalog", "default"]
    for name in ("catalog", "default"):
        grant(alice, "invalidate", rows[name])
    CacheManager("default").for_user(fresh(alice)).invalidate_tags("artist:7")
    assert cache.get("spotify:user:1") is None


def test_a_partition_needs_its_own_permission(cache, alice) -> None:
    handle = CacheManager("default").for_user(alice)
    with pytest.raises(KeyError, match="no partition 'nope'"):
        handle.invalidate_partition("nope")
    handle.invalidate_partition("listeners")
    assert cache.get(LISTENER) is None
    with pytest.raises(PermissionDenied):
        handle.invalidate_partition("catalog")
    assert cache.get(TRACK) == "track"
    assert [e.partition for e in invalidations()] == ["listeners"]


def test_invalidate_many_needs_every_key_partition(cache, alice) -> None:
    handle = CacheManager("default").for_user(alice)
    with pytest.raises(PermissionDenied):
        handle.invalidate_many([LISTENER, TRACK])
    assert cache.get(LISTENER) == "top"  # all or nothing
    assert handle.invalidate_many([LISTENER, "spotify:user:43"]) == 1


def test_clear_needs_clear_on_every_partition_and_is_recorded(cache, rows, alice) -> None:
    grant(alice, "clear", rows["listeners"])
    grant(alice, "clear", rows["catalog"])
    with pytest.raises(PermissionDenied, match="default/default"):
        CacheManager("default").for_user(alice).clear()
    assert cache.get(TRACK) == "track"
    grant(alice, "clear", rows["default"])
    CacheManager("default").for_user(fresh(alice)).clear()
    assert cache.get(TRACK) is None and cache.get(LISTENER) is None
    [entry] = AuditLogEntry.objects.filter(action="clear")
    assert entry.actor_id == alice.pk and entry.details["partitions"] == [
        "catalog",
        "default",
        "listeners",
    ]


def test_the_async_call_is_checked_too(cache, alice) -> None:
    # (The allowed invalidation's own audit row is not asserted: in the tests'
    # SPOTIFY_CACHE_AUDIT_SYNC mode a row cannot be written from the event loop's
    # thread; the threaded writer of a real site only queues it there.)
    handle = CacheManager("default").for_user(alice)
    assert async_to_sync(handle.ainvalidate)(LISTENER) == 1
    with pytest.raises(PermissionDenied):
        async_to_sync(handle.ainvalidate)(TRACK)
    assert cache.get(TRACK) == "track" and cache.get(LISTENER) is None
    [denial] = denials()  # checked (and recorded) in a thread, before the call
    assert denial.partition == "catalog" and denial.reason.endswith("(ainvalidate)")


def test_global_permissions_and_superusers_reach_everything(cache, rows) -> None:
    carol, root = user("carol"), user("root", is_superuser=True)
    grant(carol, "invalidate")
    for account in (fresh(carol), root):
        handle = CacheManager("default").for_user(account)
        handle.invalidate("spotify:*")
        handle.invalidate_tags("anything")
    assert not denials()


def test_data_path_calls_pass_through(cache, alice) -> None:
    handle = CacheManager("default").for_user(alice)
    handle.set(TRACK, "mine")
    assert handle.get(TRACK) == "mine" and not denials()
    assert "for alice" in repr(handle)


def test_a_standalone_cache_has_no_rows_so_only_global_permissions_count(rows, alice) -> None:
    standalone = CacheManager("memory", location="memory://rbac-standalone")
    with pytest.raises(PermissionDenied):
        standalone.for_user(alice).invalidate(LISTENER)
    carol = user("carol")
    grant(carol, "invalidate")
    standalone.for_user(fresh(carol)).invalidate(LISTENER)


# -- manage.py invalidatecache --as-user ------------------------------------------------
def run(*args: str) -> str:
    out = io.StringIO()
    call_command("invalidatecache", *args, stdout=out)
    return out.getvalue()


def test_as_user_invalidates_what_the_user_may_and_records_it_as_theirs(cache, alice) -> None:
    assert "invalidated (1 removed)" in run("--key", LISTENER, "--as-user", "alice")
    run("--partition", "listeners", "--as-user", "alice")
    run("--pattern", "spotify:user:*", "--as-user", "alice")
    entries = invalidations()
    assert len(entries) == 3
    assert {(e.actor_id, e.actor_label) for e in entries} == {(alice.pk, "alice")}


@pytest.mark.parametrize(
    "args",
    [
        ["--key", TRACK],
        ["--partition", "catalog"],
        ["--pattern", "spotify:*"],
        ["--tag", "artist:7"],
        ["--key", LISTENER, "--key", TRACK],
    ],
)
def test_as_user_refuses_and_records_what_the_user_may_not(cache, alice, args) -> None:
    with pytest.raises(CommandError, match="permission denied: alice lacks"):
        run(*args, "--as-user", "alice")
    assert cache.get(TRACK) == "track" and cache.get(LISTENER) == "top"  # nothing done
    [denial] = denials()
    assert denial.actor_id == alice.pk and denial.reason.endswith("(manage.py invalidatecache)")
    assert not invalidations()


def test_as_user_names_an_unknown_user_or_partition(cache, alice) -> None:
    with pytest.raises(CommandError, match="unknown user 'mallory'"):
        run("--partition", "listeners", "--as-user", "mallory")
    with pytest.raises(CommandError, match="unknown partition 'nope'"):
        run("--partition", "nope", "--as-user", "alice")
    assert not denials()


@pytest.mark.django_db(transaction=True)  # autocommit: the binding's invalidation runs at once
def test_as_user_checks_a_models_binding_targets(cache, alice) -> None:
    from example_project.music.models import Artist
    from spotify_cache.invalidation import bindings

    artist = Artist.objects.create(name="Bound")
    binding = bindings.bind(Artist, keys=["spotify:user:{pk}:*"])
    try:
        run("--model", "music.Artist", "--pk", str(artist.pk), "--as-user", "alice")
        bindings.unbind(binding)
        binding = bindings.bind(Artist, keys=["spotify:track:{pk}"])
        with pytest.raises(CommandError, match="default/catalog"):
            run("--model", "music.Artist", "--pk", str(artist.pk), "--as-user", "alice")
    finally:
        bindings.unbind(binding)
    assert [d.partition for d in denials()] == ["catalog"]
    assert [e.actor_id for e in invalidations()] == [alice.pk]
