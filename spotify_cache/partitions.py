"""Partitions: per-business-domain policy chosen by key prefix.

::

    "OPTIONS": {"PARTITIONS": {
        "listeners": {"PREFIX": "spotify:user:", "TIMEOUT": 3600, "MAX_TIMEOUT": 86400},
        "catalog":   {"PREFIX": "spotify:track:", "TIMEOUT": None, "SERIALIZER": "msgpack"},
    }}

The longest matching ``PREFIX`` of the caller's key wins; other keys fall into
``default`` (which may be configured too, without a prefix).  A partition sets
the default and maximum TTL (longer ones are clamped, not refused), the
serializer and compressor, the near-cache (Redis) or strategy and bounds
(memory store: ``MAX_ENTRIES``, ``MAX_BYTES`` are a quota of its own).  Every
value of a partitioned cache is stamped with its partition's version record,
so ``invalidate_partition`` is one delete.  Every field is checked at
start-up: a mistake raises ``ImproperlyConfigured`` naming partition and field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.exceptions import ImproperlyConfigured

from . import timeouts

DEFAULT = "default"
STORE_FIELDS = frozenset({"NEAR_CACHE", "STRATEGY", "MAX_ENTRIES", "MAX_BYTES"})
CODEC_FIELDS = frozenset({"SERIALIZER", "COMPRESSOR"})
FIELDS = frozenset({"PREFIX", "TIMEOUT", "MAX_TIMEOUT"}) | STORE_FIELDS | CODEC_FIELDS
MEMORY_ONLY = frozenset({"STRATEGY", "MAX_ENTRIES", "MAX_BYTES"})
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class Partition:
    """One partition's policy, as configured (public: ``cache.partitions``)."""

    name: str
    prefix: str = ""
    timeout: Any = DEFAULT_TIMEOUT
    max_timeout: float | None = None
    codec_options: Mapping[str, Any] = field(default_factory=dict)
    store_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def record(self) -> str:
        """The name of its version record (``invalidate_partition`` deletes it)."""
        return f"p:{self.name}"

    def ttl(self, timeout: Any, cache_default: float | None) -> float | None:
        """Seconds to live for a write with ``timeout``, clamped to ``MAX_TIMEOUT``."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = cache_default if self.timeout is DEFAULT_TIMEOUT else self.timeout
        ttl = timeouts.seconds(timeout)
        if self.max_timeout is not None and (ttl is None or ttl > self.max_timeout):
            return self.max_timeout
        return ttl


def read_partitions(options: Mapping[str, Any], on_redis: bool) -> dict[str, Partition]:
    """The partitions ``OPTIONS["PARTITIONS"]`` declares, plus ``default``."""
    declared = options.get("PARTITIONS")
    if declared is None:
        return {DEFAULT: Partition(DEFAULT)}
    if not isinstance(declared, Mapping):
        raise ImproperlyConfigured(
            f'OPTIONS["PARTITIONS"] must be a dict of name -> policy dict, not {declared!r}'
        )
    found = {name: _partition(name, policy, on_redis) for name, policy in declared.items()}
    found.setdefault(DEFAULT, Partition(DEFAULT))
    _refuse_shared_prefixes(found)
    return found


def _where(name: Any, field_name: str | None = None) -> str:
    where = f'OPTIONS["PARTITIONS"][{name!r}]'
    return f"{where}[{field_name!r}]" if field_name else where


def _partition(name: Any, policy: Any, on_redis: bool) -> Partition:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ImproperlyConfigured(
            f"{_where(name)}: a partition name is 1-64 letters, digits, '_', '.' or '-'"
        )
    if not isinstance(policy, Mapping):
        raise ImproperlyConfigured(f"{_where(name)} must be a dict, not {policy!r}")
    unknown = sorted(set(policy) - FIELDS)
    if unknown:
        raise ImproperlyConfigured(
            f"{_where(name)}: unknown field {unknown[0]!r}; known: {sorted(FIELDS)}"
        )
    _check_placement(name, policy, on_redis)
    timeout, max_timeout = _timeouts(name, policy)
    return Partition(
        name=name,
        prefix=_prefix(name, policy),
        timeout=timeout,
        max_timeout=max_timeout,
        codec_options={k: policy[k] for k in CODEC_FIELDS if k in policy},
        store_options={k: policy[k] for k in STORE_FIELDS if k in policy},
    )


def _prefix(name: str, policy: Mapping[str, Any]) -> str:
    prefix = policy.get("PREFIX", "")
    if not isinstance(prefix, str):
        raise ImproperlyConfigured(f"{_where(name, 'PREFIX')} must be a string, not {prefix!r}")
    if name == DEFAULT and prefix:
        raise ImproperlyConfigured(
            f"{_where(name, 'PREFIX')}: the default partition takes every key no prefix matches"
        )
    if name != DEFAULT and not prefix:
        raise ImproperlyConfigured(f"{_where(name, 'PREFIX')} is required (a key prefix)")
    return prefix


def _number(name: str, policy: Mapping[str, Any], field_name: str, minimum: float) -> Any:
    value = policy.get(field_name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ImproperlyConfigured(
            f"{_where(name, field_name)} must be None or a number >= {minimum}, not {value!r}"
        )
    return float(value)


def _timeouts(name: str, policy: Mapping[str, Any]) -> tuple[Any, float | None]:
    timeout = _number(name, policy, "TIMEOUT", float("-inf")) if "TIMEOUT" in policy else None
    max_timeout = _number(name, policy, "MAX_TIMEOUT", 0.001)
    if max_timeout is not None and timeout is not None and timeout > max_timeout:
        raise ImproperlyConfigured(
            f"{_where(name, 'TIMEOUT')} {timeout:g} is longer than MAX_TIMEOUT {max_timeout:g}"
        )
    return (timeout if "TIMEOUT" in policy else DEFAULT_TIMEOUT), max_timeout


def _check_placement(name: str, policy: Mapping[str, Any], on_redis: bool) -> None:
    if on_redis:
        for field_name in sorted(MEMORY_ONLY & set(policy)):
            raise ImproperlyConfigured(
                f"{_where(name, field_name)} applies to the memory store only: Redis bounds "
                "itself (maxmemory); use NEAR_CACHE: {...} for an in-process tier"
            )
    elif policy.get("NEAR_CACHE") not in (None, False):
        raise ImproperlyConfigured(f"{_where(name, 'NEAR_CACHE')} needs a Redis LOCATION")


def _refuse_shared_prefixes(found: Mapping[str, Partition]) -> None:
    owners: dict[str, str] = {}
    for partition in found.values():
        if partition.prefix and partition.prefix in owners:
            raise ImproperlyConfigured(
                f"{_where(partition.name, 'PREFIX')} {partition.prefix!r} is also the prefix "
                f"of partition {owners[partition.prefix]!r}"
            )
        owners[partition.prefix] = partition.name


def route_order(partitions: Mapping[str, Partition]) -> list[Partition]:
    """Partitions with a prefix, longest prefix first (the first match wins)."""
    with_prefix = [p for p in partitions.values() if p.prefix]
    return sorted(with_prefix, key=lambda p: len(p.prefix), reverse=True)
