"""Settings of the test-only site served by ``runserver`` (a WSGI server) in
``test_wsgi_async.py``: one cache on the Redis named by ``SPOTIFY_CACHE_SITE_REDIS``."""

from __future__ import annotations

import os

SECRET_KEY = "reliability-site-not-for-production"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "tests.reliability.site_urls"
DATABASES: dict[str, object] = {}
CACHES = {
    "default": {
        "BACKEND": "spotify_cache.backend.SpotifyCache",
        "LOCATION": os.environ.get("SPOTIFY_CACHE_SITE_REDIS", "redis://127.0.0.1:6379/0"),
        "KEY_PREFIX": "site",
    }
}
