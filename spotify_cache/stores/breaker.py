"""A circuit breaker: closed, open, half-open, on an injected clock.

Closed, calls go to the remote.  ``FAILURES`` failed reads within ``WINDOW``
seconds, or any failed write (it leaves the remote in a state only a replay
can settle), open it: calls skip the remote entirely, so a dead or hung
server costs one timeout per ``PROBE_INTERVAL`` instead of one per call.
Once ``PROBE_INTERVAL`` has passed, the next call is let through alone as
the probe (half-open); its success closes the breaker, its failure opens it
for another interval.

The breaker is state only: it takes no lock and sends nothing.  Its owner
(``failover.Failover``) calls it under its own lock and announces the
``Change`` each method returns, once, after letting go of the lock.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
#: What ``admit`` lets a call do.
REMOTE, PROBE, SKIP = "remote", "probe", "skip"


class Change(NamedTuple):
    """One state change: ``old`` -> ``new`` and why (a short code, never a value)."""

    old: str
    new: str
    reason: str


class Breaker:
    """Closed / open / half-open over ``clock`` (seconds, monotonic)."""

    def __init__(
        self,
        *,
        failures: int = 1,
        window: float = 10.0,
        probe_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.window = window
        self.probe_interval = probe_interval
        self.clock = clock
        self.state = CLOSED
        self.opened_at = 0.0
        self._recent: deque[float] = deque()

    def admit(self) -> tuple[str, Change | None]:
        """``REMOTE`` (closed), ``PROBE`` (this call probes: now half-open) or ``SKIP``."""
        if self.state == CLOSED:
            return REMOTE, None
        if self.state == OPEN and self.clock() >= self.opened_at + self.probe_interval:
            return PROBE, self._move(HALF_OPEN, "probe interval elapsed")
        return SKIP, None

    def failure(self, reason: str, *, at_once: bool = False, probe: bool = False) -> Change | None:
        """A remote call failed; ``at_once`` (a write) opens a closed breaker
        whatever the count; ``probe``: the probe failed, open again.  Late
        failures of calls made before the breaker opened change nothing."""
        if self.state == HALF_OPEN and probe:
            return self._open(f"probe failed: {reason}")
        if self.state != CLOSED:
            return None
        now = self.clock()
        recent = self._recent
        recent.append(now)
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if at_once or len(recent) >= self.failures:
            return self._open(reason)
        return None

    def success(self) -> Change | None:
        """The probe got through: close."""
        if self.state != HALF_OPEN:
            return None
        self._recent.clear()
        return self._move(CLOSED, "probe succeeded")

    def abandon(self, reason: str = "probe abandoned") -> Change | None:
        """The probe ended without closing (interrupted, or it could not catch up): open again."""
        return self._open(reason) if self.state == HALF_OPEN else None

    def _open(self, reason: str) -> Change:
        self.opened_at = self.clock()
        self._recent.clear()
        return self._move(OPEN, reason)

    def _move(self, new: str, reason: str) -> Change:
        change = Change(self.state, new, reason)
        self.state = new
        return change
