"""``manage.py rotatecachekeys [--cache ALIAS] [--sample N] [--as-user USERNAME]``: which
keys seal a cache's values.

::

    cache 'default': 1200 keys sampled, 1180 sealed values (aes-gcm)
      key id  values   share  status                 setting
         17      900   76.3%  current                ENCRYPTION_KEYS[0]
        203      270   22.9%  old (still needed)     ENCRYPTION_KEYS[1]
         88       10    0.8%  unknown (dropped key)  -
    stage: rotating: keep the old keys until their values expire

A thin shell over ``security.rotation``; each run is recorded in the audit log
(``rotate_keys``), so every step of a rotation leaves a row.  It changes
nothing: keys rotate in settings (README, Security model).  With ``--as-user``
the user's ``rotatekeys`` permission on every partition of the cache is checked
first (``rbac``: a denial is audited) and the row is theirs.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import InvalidCacheBackendError, caches
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...security import audit, rbac, rotation

BACKEND = "spotify_cache.backend.SpotifyCache"
REASON = "manage.py rotatecachekeys"


class Command(BaseCommand):
    help = "Show which key ids seal the values of a cache (sampled with SCAN), and audit it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cache", default="default", help='the CACHES alias ("default")')
        parser.add_argument(
            "--sample", type=int, default=10_000, help="keys to sample at most (10000)"
        )
        parser.add_argument(
            "--as-user",
            metavar="USERNAME",
            help="act for USERNAME: their rotatekeys permission on every partition of the "
            "cache is checked first (a denial is audited), and the report is recorded as theirs",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        alias, sample = options["cache"], options["sample"]
        if sample < 1:
            raise CommandError(f"--sample must be at least 1, not {sample}")
        params: dict[str, Any] = settings.CACHES.get(alias) or {}
        if params.get("BACKEND") != BACKEND:
            raise CommandError(f"CACHES[{alias!r}] is not a {BACKEND} cache")
        try:
            cache = caches[alias]
            actor = _authorized(options["as_user"], alias, cache)
            usage = rotation.key_usage(cache, params.get("OPTIONS") or {}, alias, sample)
        except (InvalidCacheBackendError, ImproperlyConfigured) as exc:
            raise CommandError(f"CACHES[{alias!r}]: {exc}") from exc
        rotation.record(usage, actor)
        self.stdout.write(report(usage))


def _authorized(username: str | None, alias: str, cache: Any) -> Any:
    """The user ``--as-user`` names, once their permission is checked (``None``: the
    operating-system user runs the command)."""
    if not username:
        return None
    model = get_user_model()
    try:
        user = model._default_manager.get_by_natural_key(username)
    except model.DoesNotExist as exc:
        raise CommandError(f"unknown user {username!r} (--as-user)") from exc
    try:
        rbac.require_all(user, "rotatekeys", alias, cache.partitions, operation=REASON)
    except PermissionDenied as exc:
        raise CommandError(f"permission denied: {exc}") from exc
    return audit.actor_of(user)


def report(usage: rotation.KeyUsage) -> str:
    """The table the command prints."""
    sealed = sum(usage.ids.values())
    more = "" if usage.complete else " (the first of more)"
    lines = [
        f"cache {usage.alias!r}: {usage.sampled} keys sampled{more}, "
        f"{sealed} sealed values ({usage.algorithm})",
        f"  {'key id':>6}  {'values':>7}  {'share':>6}  {'status':<22} setting",
    ]
    for kid, count, status in usage.rows():
        share = f"{100 * count / sealed:.1f}%" if sealed else "-"
        names = ", ".join(usage.names(kid)) or "-"
        lines.append(f"  {kid:>6}  {count:>7}  {share:>6}  {status:<22} {names}")
    if usage.unsealed:
        lines.append(f"  keys holding no sealed value (version records, markers): {usage.unsealed}")
    lines.append(f"stage: {usage.stage}")
    return "\n".join(lines)
