"""A bounded queue and one background thread that writes audit events in batches.

``submit`` never blocks and never touches the database: a full queue drops the
event, counts it by action and logs (at most every ``LOG_EVERY`` seconds) how
many were dropped.  The thread starts on the first event of each process (so a
worker forked after start-up gets its own), drains up to ``batch_size`` events
at a time into ``write``, and closes its database connections after each batch.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections

logger = logging.getLogger("spotify_cache.audit")

LOG_EVERY = 10.0
_STOP = object()

Write = Callable[[Sequence[Any]], None]


class Writer:
    """Queue plus writer thread for one process; ``write`` gets a list of events."""

    def __init__(self, write: Write, size: int, batch_size: int) -> None:
        self.pid = os.getpid()
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=size)
        self.batch_size = batch_size
        self.dropped: Counter[str] = Counter()
        self.written = 0
        self.failed = 0
        self._write = write
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._logged_at = float("-inf")

    # -- the caller's side: never blocks -------------------------------------------------
    def submit(self, event: Any) -> bool:
        """Queue ``event``; ``False`` (counted, logged) when the queue is full."""
        if self._thread is None:
            self._start()
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self._drop(event.action)
            return False
        return True

    def _drop(self, action: str) -> None:
        with self._lock:
            self.dropped[action] += 1
            now = time.monotonic()
            if now - self._logged_at < LOG_EVERY:
                return
            self._logged_at = now
            counts = dict(self.dropped)
        logger.warning(
            "audit queue full (%d events): %d dropped so far %s",
            self.queue.maxsize,
            sum(counts.values()),
            counts,
        )

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="spotify-cache-audit", daemon=True
                )
                self._thread.start()

    # -- the writer thread --------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._take()
            self._write_batch(batch)
            connections.close_all()  # this thread's connections only
            for _ in range(len(batch) + stopping):
                self.queue.task_done()

    def _take(self) -> tuple[list[Any], bool]:
        """The next batch: one event, waiting for it, then whatever else is queued."""
        batch: list[Any] = []
        item = self.queue.get()
        while item is not _STOP:
            batch.append(item)
            if len(batch) >= self.batch_size:
                return batch, False
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True

    def _write_batch(self, batch: list[Any]) -> None:
        if not batch:
            return
        try:
            self._write(batch)
        except Exception as exc:  # never let the thread die; the loss is counted and logged
            self.failed += len(batch)
            logger.error(
                "audit: %d event(s) not written: %s: %s",
                len(batch),
                type(exc).__name__,
                str(exc)[:200],
            )
        else:
            self.written += len(batch)

    # -- tests and shutdown ---------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def flush(self, timeout: float) -> bool:
        """Wait until every queued event is written (or failed); ``False`` on timeout.
        Without a running thread, the caller's thread writes them."""
        if not self.running:
            while not self.queue.empty():
                batch, _ = self._take()
                self._write_batch(batch)
                for _ in batch:
                    self.queue.task_done()
            return True
        deadline = time.monotonic() + timeout
        with self.queue.all_tasks_done:
            while self.queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.queue.all_tasks_done.wait(left)
        return True

    def stop(self, timeout: float) -> bool:
        """Write what is queued, then end the thread."""
        if not self.running:
            return self.flush(timeout)
        try:
            self.queue.put(_STOP, timeout=timeout)  # may wait for room: the thread drains
        except queue.Full:
            return False
        return self.flush(timeout)

    def stats(self) -> dict[str, Any]:
        return {
            "queued": self.queue.qsize(),
            "written": self.written,
            "failed": self.failed,
            "dropped": dict(self.dropped),
        }
