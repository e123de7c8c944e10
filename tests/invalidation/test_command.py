"""``manage.py invalidatecache``: in process with call_command, and once as a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.cache import caches
from django.core.management import CommandError, call_command

from example_project.music.models import Track
from spotify_cache.backend import SpotifyCache

from .conftest import alive, cache_settings, cached

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    out = StringIO()
    call_command("invalidatecache", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def partitioned(settings):
    settings.CACHES = {
        "default": cache_settings("memory://", PARTITIONS={"catalog": {"PREFIX": "catalog:"}}),
    }
    yield caches["default"]
    caches["default"].clear()


def test_keys(cache):
    for key in ("a", "b", "c"):
        cache.set(key, 1)
    out = run("--key", "a", "--key", "b", "--key", "missing")
    assert alive(cache, "a", "b", "c") == ["c"]
    assert "key a: invalidated (1 removed)" in out
    assert "key missing: invalidated (0 removed)" in out


def test_pattern(cache):
    for key in ("user:1", "user:2", "track:1"):
        cache.set(key, 1)
    out = run("--pattern", "user:*")
    assert alive(cache, "user:1", "user:2", "track:1") == ["track:1"]
    assert "pattern user:*: invalidated 2 keys" in out


def test_tags(cache):
    cached(cache, "one", "t1")
    cached(cache, "two", "t2")
    cached(cache, "three", "t3")
    out = run("--tag", "t1", "--tag", "t2")
    assert alive(cache, "one", "two", "three") == ["three"]
    assert "tag t1: invalidated" in out and "tag t2: invalidated" in out


def test_partition(partitioned):
    partitioned.set("catalog:top", 1)
    partitioned.set("elsewhere", 1)
    out = run("--partition", "catalog")
    assert alive(partitioned, "catalog:top", "elsewhere") == ["elsewhere"]
    assert "partition catalog: invalidated" in out
    with pytest.raises(CommandError, match="unknown partition 'nope'"):
        run("--partition", "nope")


def test_dry_run_reports_and_removes_nothing(partitioned):
    for key in ("user:1", "user:2", "catalog:x"):
        partitioned.set(key, 1)
    cached(partitioned, "tagged", "t")
    out = run(
        "--dry-run",
        "--key",
        "user:1",
        "--key",
        "absent",
        "--pattern",
        "user:*",
        "--tag",
        "t",
        "--partition",
        "catalog",
    )
    assert alive(partitioned, "user:1", "user:2", "catalog:x", "tagged") == [
        "user:1",
        "user:2",
        "catalog:x",
        "tagged",
    ]
    assert out.splitlines() == [
        "key user:1: would invalidate (present)",
        "key absent: would invalidate (absent)",
        "pattern user:*: would invalidate 2 keys",
        "tag t: would invalidate (O(1): every value under it)",
        "partition catalog: would invalidate (O(1): every value under it)",
    ]


@pytest.mark.django_db(transaction=True)
def test_model_rows_and_whole_model(memory_cache, tracks, binder):
    binder(Track, tags=["track:{pk}", "artist:{artist_id}"], model_tags=["tracks"])
    pages = [f"page:{t.pk}" for t in tracks]
    for track, page in zip(tracks, pages, strict=True):
        cached(memory_cache, page, f"track:{track.pk}")
    cached(memory_cache, "all", "tracks")

    out = run("--model", "music.Track", "--pk", str(tracks[0].pk), "--dry-run")
    assert f"[default] tag track:{tracks[0].pk}: would invalidate" in out
    assert alive(memory_cache, *pages, "all") == [*pages, "all"]

    out = run("--model", "music.Track", "--pk", str(tracks[0].pk))
    assert f"[default] tag artist:{tracks[0].artist_id}: invalidated" in out
    assert alive(memory_cache, *pages, "all") == pages[1:]

    cached(memory_cache, "all", "tracks")
    out = run("--model", "music.Track")  # the model tag alone: O(1)
    assert out.splitlines() == ["[default] tag tracks: invalidated"]
    assert alive(memory_cache, *pages, "all") == pages[1:]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "nothing to invalidate"),
        (("--dry-run",), "nothing to invalidate"),
        (("--pk", "1"), "--pk needs --model"),
        (("--model", "music.Track", "--key", "k"), "give it alone"),
        (("--model", "music.Track", "--cache", "default"), "give it alone"),
        (("--key", "k", "--cache", "nope"), "unknown cache alias 'nope'"),
        (("--model", "music.Nope"), "unknown model 'music.Nope'"),
        (("--model", "Track"), "unknown model 'Track'"),
        (("--model", "music.Artist"), "music.Artist has no cache binding"),
    ],
)
@pytest.mark.django_db
def test_mistakes_are_command_errors(memory_cache, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run(*args)


def test_a_cache_that_is_not_ours_is_refused(settings):
    settings.CACHES = {
        "default": cache_settings("memory://"),
        "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    with pytest.raises(CommandError, match="not a SpotifyCache"):
        run("--key", "k", "--cache", "locmem")


def manage(*args: str, redis_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DJANGO_DEBUG": "1",
        "REDIS_URL": redis_url,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "invalidatecache", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_as_a_real_process_with_exit_codes(redis_url):
    # The example project's cache: LOCATION=REDIS_URL, KEY_PREFIX="example".
    cache = SpotifyCache(redis_url, {"KEY_PREFIX": "example"})
    key, other = f"cmd-{uuid.uuid4().hex}", f"cmd-{uuid.uuid4().hex}"
    cache.set(key, 1)
    cache.set(other, 1)
    try:
        done = manage("--key", key, redis_url=redis_url)
        assert done.returncode == 0, done.stderr
        assert f"key {key}: invalidated (1 removed)" in done.stdout
        assert alive(cache, key, other) == [other]

        failed = manage("--key", key, "--cache", "nope", redis_url=redis_url)
        assert failed.returncode == 1
        assert "unknown cache alias 'nope'" in failed.stderr
    finally:
        cache.delete_many([key, other])
