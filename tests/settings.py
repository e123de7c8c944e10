"""Settings for the test suite: SQLite, the memory store, Django's cache suite app."""

from __future__ import annotations

import sys

from tests import django_suite

SECRET_KEY = "test-secret-key-not-for-production"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "guardian",
    "spotify_cache",
    "example_project.music",
]

try:
    DJANGO_SUITE_DIR = str(django_suite.ensure())
except Exception as exc:  # reported by the conformance tests, which then fail
    DJANGO_SUITE_ERROR = f"{type(exc).__name__}: {exc}"
else:
    DJANGO_SUITE_ERROR = ""
    sys.path.append(DJANGO_SUITE_DIR)
    INSTALLED_APPS.append("cache")

# Object permissions on partitions (docs/rbac.md): guardian's backend after Django's.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "example_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CACHES = {
    "default": {
        "BACKEND": "spotify_cache.backend.SpotifyCache",
        "LOCATION": "memory://",
        "OPTIONS": {"MAX_ENTRIES": 10000},
    }
}
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SPOTIFY_CACHE_ENCRYPTION_KEYS: list[str] = []
# Audit events written in the test's own thread and transaction: other threads
# cannot see SQLite's in-memory test database (the threaded writer is tested
# in subprocesses on a file database: tests/security/test_writer.py).
SPOTIFY_CACHE_AUDIT_SYNC = True
