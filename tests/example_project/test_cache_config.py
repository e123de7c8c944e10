"""The example project's cache configuration: partitions per domain, a byte quota
for recommendations on the memory store, a near-cache for listeners on Redis."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from example_project import settings as project_settings
from example_project.cache_config import default_cache, partitions
from example_project.music import keys, services
from example_project.music.models import Listener

pytestmark = pytest.mark.django_db


def test_the_project_settings_use_this_configuration_and_bind_the_models():
    configured = project_settings.CACHES["default"]
    assert configured == default_cache(
        project_settings.REDIS_URL, project_settings.CACHE_KEY_PREFIX
    )
    assert project_settings.MUSIC_CACHE_BINDINGS is True


@pytest.mark.parametrize("on_redis", [False, True])
def test_one_partition_per_key_prefix(on_redis):
    declared = partitions(on_redis)
    assert {name: policy["PREFIX"] for name, policy in declared.items()} == keys.PREFIXES
    for policy in declared.values():
        assert policy["TIMEOUT"] <= policy["MAX_TIMEOUT"]
    assert ("NEAR_CACHE" in declared["listeners"]) is on_redis
    assert ("MAX_BYTES" in declared["recommendations"]) is not on_redis


def test_the_memory_store_partitions(example_cache):
    assert example_cache.partitions["recommendations"].store_options == {"MAX_BYTES": 2 * 2**20}
    assert example_cache.partition_of(keys.top_tracks(1)) == "listeners"
    assert example_cache.partition_of("anything:else") == "default"


def test_recommendations_fill_their_own_quota_not_the_whole_cache(settings, demo):
    config = default_cache(key_prefix="quota-tests")
    config["OPTIONS"]["PARTITIONS"]["recommendations"]["MAX_BYTES"] = 16_000  # a few listeners
    settings.CACHES = {"default": config}
    caches["default"].clear()
    listener_ids = list(Listener.objects.order_by("pk").values_list("pk", flat=True))
    for listener_id in listener_ids:
        services.top_tracks(listener_id)
        services.recommendations(listener_id)
    cache = caches["default"]
    kept = cache.get_many([keys.recommendations(pk) for pk in listener_ids])
    assert 0 < len(kept) < len(listener_ids)  # the quota evicted some of them
    top = cache.get_many([keys.top_tracks(pk) for pk in listener_ids])
    assert len(top) == len(listener_ids)  # and nothing else
    caches["default"].clear()


def test_the_redis_configuration_is_accepted_with_a_near_cache(settings, redis_url, demo):
    settings.CACHES = {"default": default_cache(redis_url, key_prefix="near-tests")}
    cache = caches["default"]
    cache.clear()
    assert cache.partitions["listeners"].store_options["NEAR_CACHE"]["MAX_ENTRIES"] == 2000
    listener_id = Listener.objects.values_list("pk", flat=True).first()
    assert not services.top_tracks(listener_id).hit
    assert services.top_tracks(listener_id).hit
    cache.clear()


def test_forgetting_everything_without_partitions_scans_the_prefixes(settings, demo):
    settings.CACHES = {"default": {**default_cache(key_prefix="plain-tests"), "OPTIONS": {}}}
    caches["default"].clear()
    listener_id = Listener.objects.values_list("pk", flat=True).first()
    services.top_tracks(listener_id)
    services.global_chart()
    caches["default"].set("unrelated", 1)
    services.forget_everything()
    assert not services.top_tracks(listener_id).hit and not services.global_chart().hit
    assert caches["default"].get("unrelated") == 1
    caches["default"].clear()
