"""Exceptions raised by spotify_cache; every one derives from ``SpotifyCacheError``."""

from __future__ import annotations


class SpotifyCacheError(Exception):
    """Base class of every error spotify_cache raises on purpose."""


class StoreError(SpotifyCacheError):
    """Raised when a store cannot complete an operation (transport failure, timeout).

    Transport errors are wrapped exactly once, at the store boundary, with the
    original exception as ``__cause__``.
    """


class StoreUnavailable(StoreError):
    """Raised when the store cannot be reached at all (refused, timed out).

    ``maybe_applied`` says whether a write may still have taken effect: ``False``
    when nothing reached the server (connection refused), ``True`` when the
    command may have been delivered (a timeout or a dropped connection: a
    stalled server runs it when it resumes).  Reads ignore it.
    """

    def __init__(self, message: str, *, maybe_applied: bool = True) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


class InvalidValue(SpotifyCacheError):
    """Raised when a stored blob is rejected: bad frame, failed authentication,
    unknown key id, too large.  Deliberately opaque, like Fernet's ``InvalidToken``:
    ``reason`` is a short code for counting, never a value or a secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ContentionError(SpotifyCacheError):
    """Raised when a read-modify-write (``incr``) lost its compare-and-set race
    more times than allowed."""
