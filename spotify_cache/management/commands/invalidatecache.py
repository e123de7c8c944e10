"""``manage.py invalidatecache``: invalidate keys, a glob, tags, a partition or a model's rows.

::

    manage.py invalidatecache --key spotify:user:1 --key spotify:user:2
    manage.py invalidatecache --pattern "spotify:track:*" --dry-run
    manage.py invalidatecache --tag artist:7 --cache default
    manage.py invalidatecache --partition catalog
    manage.py invalidatecache --model music.Track --pk 3 --pk 4
    manage.py invalidatecache --partition catalog --as-user alice

A thin shell over ``cache.invalidate``, ``invalidate_tags``,
``invalidate_partition`` and ``invalidation.invalidate_model``; every mistake
(unknown cache, partition or model, an unbound model, a bad combination,
nothing to do) is a ``CommandError``, so the exit status is 1.  With
``--as-user``, the user's ``invalidate`` permission is checked on every
partition the targets reach before anything is done (``rbac``: a denial is
audited and exits 1), and the invalidations are recorded as the user's.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.cache import InvalidCacheBackendError, caches
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...core import is_glob
from ...invalidation import bindings
from ...invalidation.targets import Plan, Targets
from ...security import audit, rbac
from ...security.operations import partition_names
from ...security.scoped import glob_partitions

REASON = "manage.py invalidatecache"


class Command(BaseCommand):
    help = "Invalidate cache keys, a glob pattern, tags, a partition or a model's rows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--key", action="append", default=[], help="a key (repeatable)")
        parser.add_argument("--pattern", help="a glob over this cache's keys (SCAN)")
        parser.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
        parser.add_argument("--partition", help="a partition name")
        parser.add_argument("--model", help="app_label.Model with a cache binding")
        parser.add_argument("--pk", action="append", default=[], help="a row of --model")
        parser.add_argument("--cache", help='the CACHES alias (default "default")')
        parser.add_argument("--dry-run", action="store_true", help="report, remove nothing")
        parser.add_argument(
            "--as-user",
            metavar="USERNAME",
            help="act for USERNAME: their invalidate permission on each partition reached "
            "is checked first (a denial is audited), and the invalidation is recorded as theirs",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        _check_combination(options)
        user = _user(options["as_user"]) if options["as_user"] else None
        with audit.acting_as(user) if user is not None else nullcontext():
            if user is not None:
                _authorize(user, options)
            self._invalidate(options)

    def _invalidate(self, options: dict[str, Any]) -> None:
        dry_run = options["dry_run"]
        if options["model"]:
            self._model(options["model"], options["pk"], dry_run)
            return
        cache = _cache(options["cache"] or "default")
        for key in options["key"]:
            self._key(cache, key, dry_run)
        if options["pattern"]:
            self._pattern(cache, options["pattern"], dry_run)
        if options["tag"]:
            self._tags(cache, options["tag"], dry_run)
        if options["partition"]:
            self._partition(cache, options["partition"], dry_run)

    def _key(self, cache: Any, key: str, dry_run: bool) -> None:
        if dry_run:
            state = "present" if cache.has_key(key) else "absent"
            self.stdout.write(f"key {key}: would invalidate ({state})")
        else:
            removed = cache.invalidate(key, glob=False, cause="command", reason=REASON)
            self.stdout.write(f"key {key}: invalidated ({removed} removed)")

    def _pattern(self, cache: Any, pattern: str, dry_run: bool) -> None:
        if dry_run:
            matching = sum(1 for _ in cache.iter_keys(pattern))
            self.stdout.write(f"pattern {pattern}: would invalidate {matching} keys")
        else:
            removed = cache.invalidate(pattern, glob=True, cause="command", reason=REASON)
            self.stdout.write(f"pattern {pattern}: invalidated {removed} keys")

    def _tags(self, cache: Any, tags: list[str], dry_run: bool) -> None:
        if not dry_run:
            cache.invalidate_tags(*tags, cause="command", reason=REASON)
        for tag in tags:
            self.stdout.write(f"tag {tag}: {_verb(dry_run)} (O(1): every value under it)")

    def _partition(self, cache: Any, name: str, dry_run: bool) -> None:
        if name not in cache.partitions:
            known = ", ".join(sorted(cache.partitions))
            raise CommandError(f"unknown partition {name!r}; this cache has: {known}")
        if not dry_run:
            cache.invalidate_partition(name, cause="command", reason=REASON)
        self.stdout.write(f"partition {name}: {_verb(dry_run)} (O(1): every value under it)")

    def _model(self, label: str, pks: list[str], dry_run: bool) -> None:
        model = _model(label)
        rows = [model._meta.pk.to_python(pk) for pk in pks] or None
        try:
            if dry_run:
                plan = bindings.model_plan(model, rows)
            else:
                plan = bindings.invalidate_model(model, rows)
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        self._report(plan, dry_run)

    def _report(self, plan: Plan, dry_run: bool) -> None:
        verb = _verb(dry_run)
        for alias, targets in sorted(plan.items()):
            for key in sorted(targets.keys):
                self.stdout.write(f"[{alias}] key {key}: {verb}")
            for tag in sorted(targets.tags):
                self.stdout.write(f"[{alias}] tag {tag}: {verb}")
            for name in sorted(targets.partitions):
                self.stdout.write(f"[{alias}] partition {name}: {verb}")


def _verb(dry_run: bool) -> str:
    return "would invalidate" if dry_run else "invalidated"


def _check_combination(options: dict[str, Any]) -> None:
    direct = options["key"] or options["pattern"] or options["tag"] or options["partition"]
    if options["pk"] and not options["model"]:
        raise CommandError("--pk needs --model")
    if options["model"] and (direct or options["cache"]):
        raise CommandError(
            "--model invalidates in the caches its bindings name: "
            "give it alone (with --pk), not with --key/--pattern/--tag/--partition/--cache"
        )
    if not (direct or options["model"]):
        raise CommandError(
            "nothing to invalidate: give --key, --pattern, --tag, --partition or --model"
        )


def _user(username: str) -> Any:
    try:
        return get_user_model()._default_manager.get_by_natural_key(username)
    except get_user_model().DoesNotExist as exc:
        raise CommandError(f"unknown user {username!r} (--as-user)") from exc


def _authorize(user: Any, options: dict[str, Any]) -> None:
    """``CommandError`` (after the audited denial) unless ``user`` may invalidate in
    every partition the targets reach."""
    for alias, names in _reach(options).items():
        try:
            rbac.require_all(user, "invalidate", alias, names, operation=REASON)
        except PermissionDenied as exc:
            raise CommandError(f"permission denied: {exc}") from exc


def _reach(options: dict[str, Any]) -> dict[str, set[str]]:
    """Cache alias -> the partitions the requested invalidation reaches."""
    if options["model"]:
        model = _model(options["model"])
        rows = [model._meta.pk.to_python(pk) for pk in options["pk"]] or None
        try:
            plan = bindings.model_plan(model, rows)
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        return {alias: _targets_reach(_cache(alias), t) for alias, t in plan.items()}
    alias = options["cache"] or "default"
    cache = _cache(alias)
    if options["partition"] and options["partition"] not in cache.partitions:
        return {}  # _partition names the known ones
    targets = Targets(
        keys={**dict.fromkeys(options["key"], False), **_pattern(options["pattern"])},
        tags=set(options["tag"]),
        partitions={options["partition"]} if options["partition"] else set(),
    )
    return {alias: _targets_reach(cache, targets)}


def _pattern(pattern: str | None) -> dict[str, bool]:
    return {pattern: True} if pattern else {}


def _targets_reach(cache: Any, targets: Targets) -> set[str]:
    if targets.tags:  # a tag can be on a value of any partition
        return set(partition_names(cache))
    names = set(targets.partitions)
    for key, glob in targets.keys.items():
        if glob or (glob is None and is_glob(key)):
            names |= glob_partitions(cache, key)
        else:
            names.add(cache.partition_of(key))
    return names


def _cache(alias: str) -> Any:
    try:
        cache = caches[alias]
    except InvalidCacheBackendError as exc:
        raise CommandError(f"unknown cache alias {alias!r}") from exc
    if not hasattr(cache, "invalidate_tags"):
        raise CommandError(f"cache {alias!r} is a {type(cache).__name__}, not a SpotifyCache")
    return cache


def _model(label: str) -> Any:
    try:
        return apps.get_model(label)
    except (LookupError, ValueError) as exc:
        raise CommandError(f"unknown model {label!r} (app_label.Model)") from exc
