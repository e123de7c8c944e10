"""Django's own cache test suite (``tests/cache`` of Django's sdist), fetched at test time.

``pip download --no-binary :all: django==<installed>`` brings the sdist; only its
``tests/`` tree is unpacked, under ``.cache/django-tests/<version>/``.  Nothing
of Django's test code is kept in this repository.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent / ".cache" / "django-tests"


def tests_dir() -> Path:
    """Where Django's ``tests/`` directory for the installed version lives."""
    return ROOT / django.get_version() / "tests"


def ensure() -> Path:
    """Fetch and unpack the suite if needed; return Django's ``tests/`` directory."""
    target = tests_dir()
    if (target / "cache" / "tests.py").exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"django=={django.get_version()}",
                "-d",
                tmp,
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        archive = next(Path(tmp).glob("*.tar.gz"))
        _extract_tests(archive, target.parent)
    return target


def _extract_tests(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/tests/" in m.name and m.isfile()]
        for member in members:
            member.name = member.name.split("/", 1)[1]
        tar.extractall(dest, members=members, filter="data")
