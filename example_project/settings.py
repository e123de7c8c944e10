"""Settings for the example project.

Runs with no services at all (SQLite and the in-process memory store); set
``REDIS_URL`` and/or ``DATABASE_URL`` to use Redis and PostgreSQL instead
(and ``CACHE_KEY_PREFIX``, default ``example``, to share a Redis database)::

    REDIS_URL=redis://127.0.0.1:6379/0
    DATABASE_URL=postgres://user:password@127.0.0.1:5432/spotify

Outside DEBUG, ``DJANGO_SECRET_KEY`` and ``SPOTIFY_CACHE_ENCRYPTION_KEYS`` are
required: production caches are encrypted, not merely authenticated.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from example_project.cache_config import default_cache
from example_project.env import database_from_url, env_flag, env_list

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_flag("DJANGO_DEBUG", "1")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY when DJANGO_DEBUG is off.")
    # INSECURE: a development-only default, refused above whenever DEBUG is off.
    SECRET_KEY = "django-insecure-example-project-dev-only-do-not-deploy"

# Comma separated, url-safe base64 of 32 bytes each; the first one seals.
# Empty in DEBUG is fine: the backend then authenticates values with an HMAC
# derived from SECRET_KEY, without encrypting them.
SPOTIFY_CACHE_ENCRYPTION_KEYS = env_list("SPOTIFY_CACHE_ENCRYPTION_KEYS")
if not SPOTIFY_CACHE_ENCRYPTION_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        "Set SPOTIFY_CACHE_ENCRYPTION_KEYS when DJANGO_DEBUG is off; "
        "`DJANGO_DEBUG=1 python manage.py generate_cache_key` prints a key"
    )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "guardian",  # object permissions on cache partitions (docs/rbac.md)
    "spotify_cache",
    "example_project.music",
]

# Django's permissions, then guardian's per-object ones (granted in the admin on
# each cache partition: invalidate, warm, clear, view its audit log...).
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
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(
        os.environ.get("DATABASE_URL", "sqlite:///example_project/db.sqlite3"), BASE_DIR
    )
}

REDIS_URL = os.environ.get("REDIS_URL", "")
# Two sites on one Redis database need prefixes of their own (spotify_cache.E005).
CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "example")
# Partitions per business domain (listeners, recommendations, tracks): see cache_config.py.
CACHES = {"default": default_cache(REDIS_URL, CACHE_KEY_PREFIX)}
# Bind the music models to the tags the services write (music/cache_bindings.py):
# saving a row in the admin invalidates every cached value that shows it.  The
# app binds nothing without this, as the library's own tests use its models unbound.
MUSIC_CACHE_BINDINGS = True

# Sessions are read from the cache and written through to the database.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "example_project" / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "spotify_cache": {"handlers": ["console"], "level": "WARNING"},
        "example_project": {"handlers": ["console"], "level": "INFO"},
    },
}
