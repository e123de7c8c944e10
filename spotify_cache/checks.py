"""System checks (``manage.py check``) over every ``SpotifyCache`` in ``CACHES``.

Ids:
  spotify_cache.E001  ENCRYPTION_KEYS malformed (not base64, not 32 bytes)
  spotify_cache.E002  unknown or unusable STRATEGY
  spotify_cache.E003  unknown or unusable SERIALIZER / COMPRESSOR / ALGORITHM
  spotify_cache.E004  LOCATION / STORE / other OPTIONS invalid
  spotify_cache.E005  two caches on one Redis database whose keys can collide (KEY_PREFIX
                      equal, or one is the other's followed by ":<int>")
  spotify_cache.E006  OPTIONS["PARTITIONS"] invalid (names the partition and the field)
  spotify_cache.E007  TLS certificate verification off (ssl_cert_reqs=none in LOCATION,
                      CONNECTION_POOL_KWARGS or SENTINEL_KWARGS) while DEBUG is off
  spotify_cache.W001  no ENCRYPTION_KEYS while DEBUG is off (keys derived from SECRET_KEY)
  spotify_cache.W002  ALGORITHM "hmac" while DEBUG is off (values authenticated, not encrypted)
"""

from __future__ import annotations

import ssl
from itertools import combinations
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

from django.conf import settings
from django.core.cache.backends.base import default_key_func, get_key_func
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from . import options as config
from .namespace import prefixes_collide
from .routing import check_partitions

BACKEND = "spotify_cache.backend.SpotifyCache"
#: Where a Redis cache keeps its keys: ("tcp", host, port, db) or ("unix", path, db).
Database = tuple[Any, ...]


def _our_caches() -> dict[str, dict[str, Any]]:
    return {a: p for a, p in settings.CACHES.items() if p.get("BACKEND") == BACKEND}


def _error_id(message: str) -> str:
    # Every ImproperlyConfigured from ``options`` starts with the setting it names.
    if message.startswith(("ENCRYPTION_KEYS[", "ENCRYPTION_KEYS /")):
        return "spotify_cache.E001"
    if message.startswith('OPTIONS["PARTITIONS"]'):
        return "spotify_cache.E006"
    if message.startswith('OPTIONS["STRATEGY"]'):
        return "spotify_cache.E002"
    if message.startswith(
        ('OPTIONS["SERIALIZER"]', 'OPTIONS["COMPRESSOR"]', 'OPTIONS["ALGORITHM"]')
    ):
        return "spotify_cache.E003"
    return "spotify_cache.E004"


def check_cache(alias: str, params: dict[str, Any]) -> list[CheckMessage]:
    """Problems with one cache's configuration."""
    options = params.get("OPTIONS") or {}
    try:
        config.read_config(params.get("LOCATION", ""), options)
        config.codec(options)
        check_partitions(params.get("LOCATION", ""), options)
    except ImproperlyConfigured as exc:
        return [Error(f"CACHES[{alias!r}]: {exc}", id=_error_id(str(exc)))]
    if settings.DEBUG:
        return []
    return _transport_errors(alias, params) + _key_warnings(alias, options)


def _transport_errors(alias: str, params: dict[str, Any]) -> list[CheckMessage]:
    """``E007`` when a connection would accept any certificate."""
    options = params.get("OPTIONS") or {}
    places = [
        f"LOCATION {url!r}"
        for url in config.location_urls(params.get("LOCATION", ""))
        if any(_verification_off(v) for v in parse_qs(urlsplit(url).query).get("ssl_cert_reqs", []))
    ]
    for name in ("CONNECTION_POOL_KWARGS", "SENTINEL_KWARGS"):
        kwargs = options.get(name) or {}
        if "ssl_cert_reqs" in kwargs and _verification_off(kwargs["ssl_cert_reqs"]):
            places.append(f'OPTIONS["{name}"]')
    if not places:
        return []
    return [
        Error(
            f"CACHES[{alias!r}] turns off TLS certificate verification (ssl_cert_reqs=none "
            f"in {', '.join(places)}): anyone on the network path can pose as Redis, see "
            "every key and command, and drop, delay or replay values.",
            hint="Use ssl_cert_reqs=required with ssl_ca_certs=<the CA that signed the "
            "server's certificate>, e.g. rediss://host:6380/0?ssl_cert_reqs=required"
            "&ssl_ca_certs=/etc/redis/ca.pem (see docs/security.md).",
            id="spotify_cache.E007",
        )
    ]


def _verification_off(value: Any) -> bool:
    """Whether an ``ssl_cert_reqs`` value lets any certificate through (redis-py
    reads ``None`` as ``CERT_NONE``)."""
    if value is None or (not isinstance(value, str) and value == ssl.CERT_NONE):
        return True
    return isinstance(value, str) and value.strip().lower() in ("none", "cert_none")


def _key_warnings(alias: str, options: dict[str, Any]) -> list[CheckMessage]:
    warnings: list[CheckMessage] = []
    if not config.encryption_keys(options):
        warnings.append(
            Warning(
                f"CACHES[{alias!r}] has no ENCRYPTION_KEYS: values are encrypted under keys "
                "derived from SECRET_KEY, which rotate only with it.",
                hint="Set SPOTIFY_CACHE_ENCRYPTION_KEYS (manage.py generate_cache_key "
                "prints a key): explicit keys rotate on their own schedule.",
                id="spotify_cache.W001",
            )
        )
    if config.algorithm(options, []) == "hmac":
        warnings.append(
            Warning(
                f'CACHES[{alias!r}] has ALGORITHM "hmac": values are authenticated but '
                "stored in clear.",
                hint='Drop ALGORITHM (the default, "aes-gcm", encrypts).',
                id="spotify_cache.W002",
            )
        )
    return warnings


@register(Tags.caches, Tags.security)
def check_caches(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every ``SpotifyCache`` alias, checked."""
    messages: list[CheckMessage] = []
    caches = _our_caches()
    for alias, params in caches.items():
        messages.extend(check_cache(alias, params))
    messages.extend(check_shared_databases(caches))
    return messages


def check_shared_databases(caches: dict[str, dict[str, Any]]) -> list[CheckMessage]:
    """``E005`` for each pair of Redis caches on one database whose keys can collide."""
    spaces = {a: space for a, p in caches.items() if (space := _redis_namespace(p)) is not None}
    return [
        _collision((first, second), spaces[first], spaces[second])
        for first, second in combinations(spaces, 2)
        if spaces[first][0] == spaces[second][0]
        and prefixes_collide(spaces[first][1], spaces[second][1])
    ]


def _collision(aliases: tuple[str, str], *spaces: tuple[Database, str]) -> Error:
    (database, first), (_, second) = spaces
    return Error(
        f"CACHES[{aliases[0]!r}] and CACHES[{aliases[1]!r}] share the Redis database "
        f"{_describe(database)} and their KEY_PREFIX values {first!r} and {second!r} let "
        "their keys collide: one cache would read, overwrite and clear the other's values.",
        hint="Give each cache a distinct KEY_PREFIX, and not one that is the other's "
        'followed by ":<int>" (such as "app" and "app:1"), or a database of its own.',
        id="spotify_cache.E005",
    )


def _redis_namespace(params: dict[str, Any]) -> tuple[Database, str] | None:
    """The database and KEY_PREFIX of a Redis cache with Django's key format (other
    key functions can keep caches apart in ways a prefix comparison cannot see)."""
    database = _redis_database(params.get("LOCATION", ""))
    if database is None or not _django_key_format(params):
        return None
    return database, str(params.get("KEY_PREFIX", ""))


def _django_key_format(params: dict[str, Any]) -> bool:
    try:
        return get_key_func(params.get("KEY_FUNCTION")) is default_key_func
    except Exception:  # an unimportable KEY_FUNCTION fails loudly when the cache is built
        return False


def _redis_database(location: Any) -> Database | None:
    """The database of ``LOCATION``'s first (primary) URL, read as redis-py reads it."""
    try:
        urls = config.location_urls(location)
    except ImproperlyConfigured:
        return None
    if not urls or not urls[0].startswith(config.REDIS_SCHEMES):
        return None
    url = urlsplit(urls[0])
    try:
        if url.scheme == "unix":
            return ("unix", url.path, _db_number(url, ""))
        return ("tcp", url.hostname or "localhost", url.port or 6379, _db_number(url, url.path))
    except ValueError:  # a malformed port or db: nothing to compare
        return None


def _db_number(url: SplitResult, path: str) -> int:
    """``?db=`` if given, else the URL path's number (redis-py ignores a non-number there)."""
    query = parse_qs(url.query).get("db")
    if query:
        return int(query[0])
    number = path.replace("/", "")
    return int(number) if number.isdigit() else 0


def _describe(database: Database) -> str:
    if database[0] == "unix":
        return f"unix://{database[1]}?db={database[2]}"
    return f"{database[1]}:{database[2]}/{database[3]}"
