"""The threaded writer, in real processes on a file SQLite database: the hot path
only queues (10,000 rejections well under a second, drops counted beyond the
bound while the database stalls), and several processes with several threads
each extend one chain without a gap."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHILD = [sys.executable, "-m", "tests.security.audit_child"]


def run(db: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [*CHILD, str(db), *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1]) if done.stdout.strip() else {}


class Child:
    """A child process spoken to line by line."""

    def __init__(self, db: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [*CHILD, str(db), *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.read() == "ready"

    def read(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line:
            self.process.wait(10)
            raise AssertionError(self.process.stderr.read()[-2000:] if self.process.stderr else "")
        return line if line == "ready" else json.loads(line)

    def tell(self, word: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(word + "\n")
        self.process.stdin.flush()

    def finish(self) -> str:
        _, err = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, err[-2000:]
        return err


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.sqlite3"
    run(path, "migrate")
    return path


def test_the_hot_path_only_queues_and_drops_beyond_the_bound_while_the_database_stalls(
    db: Path,
) -> None:
    child = Child(db, "burst", "1000")
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # the writer thread now waits on the database
    try:
        child.tell("go")
        burst = child.read()
    finally:
        lock.execute("COMMIT")
        lock.close()
    child.tell("flush")
    stats = child.read()
    log = child.finish()

    print(f"10,000 value_rejected sends, database stalled: {burst['elapsed'] * 1000:.1f} ms")
    assert burst["elapsed"] < 0.5
    # the queue holds 1,000; the writer had taken at most one batch (100) before it stalled
    assert 1000 <= burst["accepted"] <= 1100
    assert burst["dropped"] == 10_000 - burst["accepted"]
    assert stats["flushed"] and stats["dropped"] == {"value_rejected": burst["dropped"]}
    assert stats["written"] == burst["accepted"] and stats["failed"] == 0
    assert "audit queue full (1000 events)" in log and "spotify:user" not in log
    report = run(db, "verify")
    assert report["ok"] and report["checked"] == burst["accepted"]


def test_the_hot_path_while_the_writer_writes(db: Path) -> None:
    child = Child(db, "burst", "10000")
    child.tell("go")
    burst = child.read()
    child.tell("flush")
    stats = child.read()
    child.finish()

    print(f"10,000 value_rejected sends, writer running: {burst['elapsed'] * 1000:.1f} ms")
    assert burst["elapsed"] < 1.0 and burst["dropped"] == 0
    assert stats["written"] == 10_000 and stats["failed"] == 0
    report = run(db, "verify")
    assert report["ok"] and report["checked"] == 10_000


def test_several_processes_and_threads_extend_one_chain_without_a_gap(db: Path) -> None:
    children = [Child(db, "write", "400", "4") for _ in range(4)]
    for child in children:
        child.tell("go")
    results = [child.read() for child in children]
    for child in children:
        child.finish()

    assert all(r["flushed"] and r["written"] == 400 and r["failed"] == 0 for r in results)
    report = run(db, "verify")
    assert report["ok"], report["problem"]
    assert report["seqs"] == list(range(1, 1601))


def test_an_audit_that_cannot_write_never_fails_the_callers_read(caplog) -> None:
    """No database access here (no django_db mark): the sync write fails, is logged,
    and the read is still a plain miss."""
    from tests.helpers import make_cache

    cache = make_cache("memory://audit-no-db")
    cache.store.set(cache.make_key("k"), b"junk that fails authentication", None)
    assert cache.get("k") is None
    assert "audit: event not written" in caplog.text
