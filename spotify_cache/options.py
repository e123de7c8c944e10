"""Reading a cache's ``LOCATION`` and ``OPTIONS`` into the parts the backend uses.

Every mistake raises ``ImproperlyConfigured`` naming the setting; the system
checks call the same code so they report the same problems with ids.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from . import conf
from .codecs import ValueCodec, build_codec
from .codecs.compressors import BUILTIN as COMPRESSORS
from .codecs.compressors import Compressor
from .codecs.sealing import ALGORITHMS, build_sealer, decode_key
from .codecs.serializers import BUILTIN as SERIALIZERS
from .codecs.serializers import Serializer
from .stores import BUILTIN as STORES
from .stores import Store, failover, option_checks
from .strategies import resolve_strategy

#: OPTIONS the backend itself reads (stores declare their own in ``option_names``).
BACKEND_OPTIONS = frozenset(
    {
        "STORE",
        "SERIALIZER",
        "COMPRESSOR",
        "COMPRESS_MIN_BYTES",
        "ENCRYPTION_KEYS",
        "ALGORITHM",
        "MAX_VALUE_BYTES",
        "PARTITIONS",
        "INVALIDATION_GRACE",
        "STAMPEDE",
        *failover.OPTION_NAMES,
    }
)
DEFAULTS: dict[str, Any] = {
    "SERIALIZER": "pickle",
    "COMPRESSOR": "zstd",
    "COMPRESS_MIN_BYTES": 16384,
    "MAX_VALUE_BYTES": 32 * 1024 * 1024,
}
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True)
class CacheConfig:
    store_cls: type[Store]
    location: str | list[str]
    options: Mapping[str, Any]


def store_class(location: Any, options: Mapping[str, Any]) -> type[Store]:
    """The store class ``OPTIONS["STORE"]`` names, or the one ``LOCATION`` implies."""
    spec = _resolve_class(
        "STORE", options.get("STORE") or _store_from_location(location), STORES, Store
    )
    if cluster_on(options) or _is_cluster_store(spec):
        return _cluster_class(spec, location, options)
    if near_cache_on(options):
        return _near_cache_class(spec, options["NEAR_CACHE"])
    return spec


def cluster_on(options: Mapping[str, Any]) -> bool:
    """``CLUSTER`` asks for Redis Cluster: any value but ``None`` and ``False``."""
    return options.get("CLUSTER") not in (None, False)


def _is_cluster_store(spec: type[Store]) -> bool:
    # Not imported, the cluster store cannot be a base of ``spec``: no need to import redis.
    cluster = sys.modules.get("spotify_cache.stores.cluster")
    return cluster is not None and issubclass(spec, cluster.RedisClusterStore)


def _cluster_class(spec: type[Store], location: Any, options: Mapping[str, Any]) -> type[Store]:
    """``CLUSTER``: the cluster store (with its near-cache), over redis:// startup nodes.
    A list is the cluster's startup nodes, never a primary and its replicas."""
    from .stores.cluster_client import check_locations
    from .stores.redis import RedisStore

    flag = options.get("CLUSTER", True)
    if not isinstance(flag, bool):
        raise ImproperlyConfigured(f'OPTIONS["CLUSTER"] must be True or False, not {flag!r}')
    if not flag:
        raise ImproperlyConfigured('OPTIONS["STORE"] names a cluster store: set OPTIONS["CLUSTER"]')
    if not _is_cluster_store(spec):
        if options.get("STORE"):
            raise ImproperlyConfigured(
                'OPTIONS["CLUSTER"] uses the cluster store: drop OPTIONS["STORE"] (with "redis", '
                "a LOCATION list is a primary and its read replicas, not cluster nodes)"
            )
        if not issubclass(spec, RedisStore):
            raise ImproperlyConfigured(
                'OPTIONS["CLUSTER"] needs LOCATION redis://host:port (one or more cluster nodes)'
            )
    try:
        check_locations(location_urls(location))
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from exc
    if near_cache_on(options):
        from .stores.cluster_near import ClusterNearCacheStore

        _near_cache_class(RedisStore, options["NEAR_CACHE"])  # the same checks of the dict
        return ClusterNearCacheStore
    from .stores.cluster import RedisClusterStore

    return spec if _is_cluster_store(spec) else RedisClusterStore


def near_cache_on(options: Mapping[str, Any]) -> bool:
    """``NEAR_CACHE`` asks for a near-cache: any value but ``None`` and ``False``
    (``{}`` is "on, with the defaults", so truthiness will not do)."""
    near = options.get("NEAR_CACHE")
    return near is not None and near is not False


def _near_cache_class(remote: type[Store], near: Any) -> type[Store]:
    from .stores.near import DEFAULTS, NearCacheStore
    from .stores.redis import RedisStore

    if not issubclass(remote, RedisStore):
        raise ImproperlyConfigured('OPTIONS["NEAR_CACHE"] needs a Redis LOCATION')
    if not isinstance(near, Mapping) or set(near) - set(DEFAULTS):
        raise ImproperlyConfigured(
            f'OPTIONS["NEAR_CACHE"] must be a dict with keys among {sorted(DEFAULTS)}'
        )
    try:
        resolve_strategy(near.get("STRATEGY", "lru"))
    except ValueError as exc:
        raise ImproperlyConfigured(f'OPTIONS["NEAR_CACHE"]["STRATEGY"]: {exc}') from exc
    return NearCacheStore


def _store_from_location(location: Any) -> str:
    urls = location_urls(location)
    if len(urls) > 1 and any(u.startswith("memory://") for u in urls):
        raise ImproperlyConfigured(
            f"LOCATION {location!r} mixes memory:// with other URLs: a list is a Redis "
            "primary and its replicas"
        )
    if not urls or urls[0].startswith("memory://"):
        return "memory"
    if all(u.startswith(REDIS_SCHEMES) for u in urls):
        return "redis"
    raise ImproperlyConfigured(
        f"LOCATION {location!r} is neither memory:// nor a redis://, rediss:// or unix:// URL; "
        'name another store with OPTIONS["STORE"]'
    )


def location_urls(location: Any) -> list[str]:
    """``LOCATION`` as a list of URLs (a string may hold several, comma-separated)."""
    if isinstance(location, str):
        return [u.strip() for u in location.split(",") if u.strip()] if location else []
    if isinstance(location, Sequence):
        return [str(u) for u in location]
    raise ImproperlyConfigured(f"LOCATION must be a string or a list of URLs, not {location!r}")


def read_config(location: Any, options: Mapping[str, Any]) -> CacheConfig:
    """Validate ``LOCATION`` and ``OPTIONS`` and pick the store."""
    store_cls = store_class(location, options)
    unknown = set(options) - BACKEND_OPTIONS - store_cls.option_names - _switched_off(options)
    if unknown:
        known = sorted(BACKEND_OPTIONS | store_cls.option_names)
        raise ImproperlyConfigured(
            f"unknown OPTIONS {sorted(unknown)} for {store_cls.__name__}; known: {known}"
        )
    try:
        store_cls.check_options(options)
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from exc
    try:
        option_checks.number(options, "INVALIDATION_GRACE", minimum=0.001)
        failover.check_options(options)
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from exc
    if "STRATEGY" in options:
        try:
            resolve_strategy(options["STRATEGY"])
        except ValueError as exc:
            raise ImproperlyConfigured(f'OPTIONS["STRATEGY"]: {exc}') from exc
    urls = location_urls(location)
    if urls and all(u.startswith(REDIS_SCHEMES) for u in urls):
        _check_redis_location(urls, options)
    loc: str | list[str] = (urls[0] if len(urls) == 1 else urls) if urls else ""
    return CacheConfig(store_cls, loc, options)


def _check_redis_location(urls: list[str], options: Mapping[str, Any]) -> None:
    """Redis URLs as redis-py will read them (port, database), and the connection
    arguments and Sentinel settings they go with."""
    from .stores import redis_config, redis_pool

    try:
        if options.get("CLUSTER"):  # the cluster store reads its own connection arguments
            for url in urls:
                redis_config.check_url(url)
        else:
            redis_pool.check_location(urls, options)
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from exc


def _switched_off(options: Mapping[str, Any]) -> set[str]:
    """Options set to "off" that no store needs to know: ``NEAR_CACHE`` or ``CLUSTER``
    ``None`` / ``False``."""
    off = set() if near_cache_on(options) else {"NEAR_CACHE"}
    return off if cluster_on(options) or "CLUSTER" not in options else off | {"CLUSTER"}


def _resolve_class(kind: str, spec: Any, builtin: Mapping[str, Any], base: type) -> Any:
    """``OPTIONS[kind]`` as a subclass of ``base``: a built-in name, a dotted path or a class."""
    if isinstance(spec, str):
        target = builtin.get(spec, spec)
        try:
            spec = import_string(target) if isinstance(target, str) else target
        except ImportError as exc:
            raise ImproperlyConfigured(
                f'OPTIONS["{kind}"] {spec!r}: use one of {sorted(builtin)} or a dotted path ({exc})'
            ) from exc
    if not (isinstance(spec, type) and issubclass(spec, base)):
        raise ImproperlyConfigured(f'OPTIONS["{kind}"] {spec!r} is not a {base.__name__}')
    return spec


def _plugin(kind: str, spec: Any, builtin: Mapping[str, type], base: type) -> Any:
    if spec is None or isinstance(spec, base):
        return spec
    spec = _resolve_class(kind, spec, builtin, base)
    try:
        return spec()
    except ImportError as exc:
        raise ImproperlyConfigured(
            f'OPTIONS["{kind}"] {spec.__name__} needs a package: {exc}'
        ) from exc


def encryption_keys(options: Mapping[str, Any]) -> list[str]:
    """``OPTIONS["ENCRYPTION_KEYS"]`` or ``SPOTIFY_CACHE_ENCRYPTION_KEYS``, validated."""
    keys = options.get("ENCRYPTION_KEYS")
    if keys is None:
        keys = conf.get("ENCRYPTION_KEYS")
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    if not isinstance(keys, list | tuple):
        raise ImproperlyConfigured(
            f"ENCRYPTION_KEYS must be a list of key strings, not {type(keys).__name__}"
        )
    seen: dict[bytes, int] = {}
    for index, key in enumerate(keys):
        try:
            raw = decode_key(key)
        except ValueError as exc:
            raise ImproperlyConfigured(f"ENCRYPTION_KEYS[{index}] {exc}") from None
        if raw in seen:
            raise ImproperlyConfigured(
                f"ENCRYPTION_KEYS[{index}] is the same key as ENCRYPTION_KEYS[{seen[raw]}]"
            )
        seen[raw] = index
    return list(keys)


def algorithm(options: Mapping[str, Any], keys: Sequence[str]) -> str:
    """The sealing algorithm: ``OPTIONS["ALGORITHM"]``, else aes-gcm (with ``ENCRYPTION_KEYS``,
    or with keys derived from ``SECRET_KEY``); ``"hmac"`` only when asked for."""
    name = str(options.get("ALGORITHM") or "aes-gcm").lower()
    if name not in ALGORITHMS:
        raise ImproperlyConfigured(
            f'OPTIONS["ALGORITHM"] {name!r}: use one of {sorted(ALGORITHMS)}'
        )
    return name


def codec(options: Mapping[str, Any]) -> ValueCodec:
    """The value pipeline described by ``OPTIONS``."""
    opts = {**DEFAULTS, **options}
    try:
        option_checks.number(options, "COMPRESS_MIN_BYTES", minimum=0, integer=True)
        option_checks.number(options, "MAX_VALUE_BYTES", minimum=1, integer=True)
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from exc
    serializer = _plugin("SERIALIZER", opts["SERIALIZER"], SERIALIZERS, Serializer)
    compressor = _plugin("COMPRESSOR", opts["COMPRESSOR"], COMPRESSORS, Compressor)
    keys = encryption_keys(options)
    name = algorithm(options, keys)
    secrets = _secrets() if not keys else []
    try:
        sealer = build_sealer(name, keys, secrets)
    except ValueError as exc:
        raise ImproperlyConfigured(f"ENCRYPTION_KEYS / SECRET_KEY: {exc}") from exc
    return build_codec(
        serializer,
        sealer,
        compressor,
        compress_min_bytes=opts["COMPRESS_MIN_BYTES"],
        max_value_bytes=opts["MAX_VALUE_BYTES"],
    )


def _secrets() -> list[str]:
    if not settings.configured:
        return []
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
