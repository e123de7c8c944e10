"""A process with the audit writer thread on a file SQLite database (as a gunicorn
worker would run it), driven by tests/security/test_writer.py.

``python -m tests.security.audit_child DB MODE [ARGS]``, modes:

* ``migrate``: migrate the database.
* ``burst QUEUE_SIZE``: print ``ready``; on ``go`` send 10,000 ``value_rejected`` as
  the backend does and print ``{"elapsed", "accepted", "dropped"}``; on ``flush``
  wait for the writer and print its stats.
* ``write COUNT THREADS``: print ``ready``; on ``go`` record COUNT events from THREADS
  threads, wait for the writer, print its stats.
* ``verify``: print the verification report.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import django
from django.conf import settings

SECRET_KEY = "audit-child-secret-key-shared-by-every-child-process"
SENDS = 10_000


def configure(db: str, queue_size: int = 10_000) -> None:
    settings.configure(
        SECRET_KEY=SECRET_KEY,
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "spotify_cache"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": db,
                "OPTIONS": {"timeout": 60},
            }
        },
        CACHES={
            "default": {
                "BACKEND": "spotify_cache.backend.SpotifyCache",
                "LOCATION": "memory://child",
                "OPTIONS": {"PARTITIONS": {"listeners": {"PREFIX": "spotify:user:"}}},
            }
        },
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        SPOTIFY_CACHE_AUDIT_QUEUE_SIZE=queue_size,
        SPOTIFY_CACHE_AUDIT_BATCH_SIZE=100,
    )
    django.setup()


def wait_for(word: str) -> None:
    line = sys.stdin.readline().strip()
    if line != word:
        raise SystemExit(f"expected {word!r}, got {line!r}")


def say(data: Any) -> None:
    print(data if isinstance(data, str) else json.dumps(data), flush=True)


def burst() -> None:
    from django.core.cache import caches

    from spotify_cache.backend import SpotifyCache
    from spotify_cache.security import audit
    from spotify_cache.signals import value_rejected

    cache = caches["default"]
    keys = [cache.make_key(f"spotify:user:{n}:top") for n in range(100)]
    say("ready")
    wait_for("go")
    started = time.perf_counter()
    for n in range(SENDS):
        value_rejected.send(sender=SpotifyCache, cache=cache, key=keys[n % 100], reason="auth")
    elapsed = time.perf_counter() - started
    dropped = sum(audit.stats()["dropped"].values())
    say({"elapsed": elapsed, "accepted": SENDS - dropped, "dropped": dropped})
    wait_for("flush")
    say({"flushed": audit.flush(120.0), **audit.stats()})


def write(count: int, threads: int) -> None:
    from spotify_cache.security import audit

    def worker(n: int) -> None:
        for i in range(count // threads):
            audit.record("warm", alias="default", partition="listeners", reason=f"t{n} #{i}")

    say("ready")
    wait_for("go")
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    say({"flushed": audit.flush(120.0), **audit.stats()})


def verify() -> None:
    from spotify_cache.models import AuditLogEntry
    from spotify_cache.security.verify import verify as run

    report = run()
    seqs = list(AuditLogEntry.objects.order_by("seq").values_list("seq", flat=True))
    say({"ok": report.ok, "checked": report.checked, "problem": report.problem, "seqs": seqs})


def main() -> None:
    db, mode, args = sys.argv[1], sys.argv[2], [int(a) for a in sys.argv[3:]]
    configure(db, args[0] if mode == "burst" else 10_000)
    if mode == "migrate":
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    elif mode == "burst":
        burst()
    elif mode == "write":
        write(*args)
    elif mode == "verify":
        verify()


if __name__ == "__main__":
    main()
