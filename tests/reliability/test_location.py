"""LOCATION and connection options that redis-py would refuse later, or misread,
are ImproperlyConfigured at start-up, naming the setting."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from spotify_cache.checks import check_cache
from tests.helpers import make_cache

SENTINELS = [("127.0.0.1", 26379)]

BAD: list[tuple[Any, dict[str, Any], str]] = [
    ("redis://127.0.0.1:notaport/0", {}, "LOCATION 'redis://127.0.0.1:notaport/0'"),
    ("redis://127.0.0.1:6379/abc", {}, "database must be a number"),  # was: silently db 0
    ("redis://127.0.0.1:0/0", {}, "port 0"),  # was: silently 6379
    ("redis://127.0.0.1:6379/0?db=x", {}, "LOCATION"),
    (["memory://", "redis://127.0.0.1:6379/0"], {}, "mixes memory://"),  # was: TypeError
    (["redis://127.0.0.1:6379/0", "memory://x"], {}, "mixes memory://"),
    ("redis://h:6379/0", {"CONNECTION_POOL_KWARGS": {"sockt_timeout": 1}}, "['sockt_timeout']"),
    ("redis://h:6379/0", {"CONNECTION_POOL_KWARGS": {"ssl_certfile": "c"}}, "['ssl_certfile']"),
    ("redis://h:6379/0", {"CONNECTION_POOL_KWARGS": {"connection_class": object}}, "set by"),
    ("redis://h:6379/0", {"CONNECTION_POOL_KWARGS": {"retry": None}}, "set by the store"),
    ("redis://a/0,redis://b/0", {"SENTINELS": SENTINELS}, "must be one URL"),
    ("unix:///tmp/r.sock", {"SENTINELS": SENTINELS}, "must be one URL"),
    ("redis://mymaster/0", {"SENTINELS": []}, 'OPTIONS["SENTINELS"]'),
    ("redis://mymaster/0", {"SENTINELS": ["127.0.0.1:26379"]}, 'OPTIONS["SENTINELS"]'),
    ("redis://mymaster/0", {"SENTINELS": [("h", "26379")]}, 'OPTIONS["SENTINELS"]'),
    ("redis://mymaster/0", {"SENTINEL_REPLICA_READS": True}, "only apply with"),
    (
        "redis://mymaster/0",
        {"SENTINELS": SENTINELS, "SENTINEL_KWARGS": {"pasword": "x"}},
        'OPTIONS["SENTINEL_KWARGS"]',
    ),
    (
        "redis://mymaster/0",
        {"SENTINELS": SENTINELS, "SENTINEL_REPLICA_READS": "yes"},
        'OPTIONS["SENTINEL_REPLICA_READS"]',
    ),
]

GOOD: list[tuple[Any, dict[str, Any]]] = [
    (
        "rediss://h:6380/0",
        {"CONNECTION_POOL_KWARGS": {"ssl_certfile": "c", "ssl_cert_reqs": "none"}},
    ),
    ("redis://h:6379/2", {"CONNECTION_POOL_KWARGS": {"username": "u", "client_name": "web"}}),
    ("unix:///tmp/r.sock?db=3", {}),
    ("redis://mymaster/1", {"SENTINELS": SENTINELS, "SENTINEL_KWARGS": {"password": "p"}}),
    ("rediss://u:p@mymaster/0", {"SENTINELS": SENTINELS, "SENTINEL_REPLICA_READS": True}),
]


@pytest.mark.parametrize(("location", "options", "named"), BAD)
def test_refused_at_start_up_naming_the_setting(location, options, named) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        make_cache(location, **options)
    assert named in str(info.value)


@pytest.mark.parametrize(("location", "options", "named"), BAD[:3])
def test_manage_py_check_reports_them(location, options, named) -> None:
    errors = check_cache("default", {"LOCATION": location, "OPTIONS": options})
    assert [e.id for e in errors] == ["spotify_cache.E004"]
    assert named in errors[0].msg


@pytest.mark.parametrize(("location", "options"), GOOD)
def test_accepted(location, options) -> None:
    make_cache(location, **options)  # builds without connecting
