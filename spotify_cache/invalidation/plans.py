"""Plans: what to invalidate in which cache, computed now and applied after the commit.

A plan maps a cache alias to ``Targets``.  ``schedule`` hands it to
``transaction.on_commit`` on the database that holds the write, so a
rolled-back transaction invalidates nothing; ``apply_plan`` makes the cache
calls with ``cause="model"``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from django.core.cache import caches
from django.db import transaction
from django.db.models import Model

from .targets import Binding, Plan, Targets

logger = logging.getLogger("spotify_cache.invalidation")

#: Failed model invalidations (after the commit), by cache alias.
failures: Counter[str] = Counter()

_MAX_PKS_IN_REASON = 5


def plan_for(found: Iterable[Binding], instances: Iterable[Any]) -> Plan:
    """What ``instances`` invalidate under the bindings ``found``."""
    found = list(found)
    plan: Plan = {}
    for instance in instances:
        for binding in found:
            plan.setdefault(binding.cache, Targets()).update(binding.targets(instance))
    return plan


def union_watched(found: Iterable[Binding]) -> frozenset[str] | None:
    """The fields all of ``found`` read (``None``: unknown, load whole rows)."""
    fields: set[str] = set()
    for binding in found:
        watched = binding.watched()
        if watched is None:
            return None
        fields |= watched
    return frozenset(fields)


def load_rows(
    model: type[Model], pks: list[Any], using: str, fields: frozenset[str] | None
) -> dict[Any, Model]:
    """Rows by primary key, with only ``fields`` (``None``: all); no query when the
    primary key is all that is needed."""
    if fields is not None and fields <= {model._meta.pk.name}:
        return {pk: model(pk=pk) for pk in pks}
    rows = model._base_manager.db_manager(using).all()
    if fields is not None:
        rows = rows.only(*fields)
    return rows.in_bulk(pks)


def describe(model: type[Model], pks: list[Any], event: str) -> str:
    """The ``reason`` of a model invalidation: ``"music.Track pk=3 post_save"``."""
    shown = ",".join(str(pk) for pk in pks[:_MAX_PKS_IN_REASON])
    more = len(pks) - _MAX_PKS_IN_REASON
    return f"{model._meta.label} pk={shown}{f',+{more}' if more > 0 else ''} {event}"


def schedule(plan: Plan, reason: str, using: str) -> None:
    """Apply ``plan`` after the commit on ``using`` (at once outside a transaction)."""
    if any(plan.values()):
        transaction.on_commit(partial(apply_plan, plan, reason), using=using)


def apply_plan(plan: Mapping[str, Targets], reason: str) -> None:
    """Invalidate ``plan`` now, cache by cache; a failing cache is logged and counted,
    never raised: the data is committed and the other caches still need it."""
    for alias, targets in plan.items():
        try:
            _apply(caches[alias], targets, reason)
        except Exception as exc:
            failures[alias] += 1
            logger.error(
                "model invalidation in cache %r failed (%s): %s", alias, type(exc).__name__, reason
            )
            logger.debug("model invalidation traceback", exc_info=True)


def _apply(cache: Any, targets: Targets, reason: str) -> None:
    for key, glob in sorted(targets.keys.items()):
        cache.invalidate(key, glob=glob, cause="model", reason=reason)
    if targets.tags:
        cache.invalidate_tags(*sorted(targets.tags), cause="model", reason=reason)
    for name in sorted(targets.partitions):
        cache.invalidate_partition(name, cause="model", reason=reason)
