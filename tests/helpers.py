"""Small builders shared by the tests."""

from __future__ import annotations

from typing import Any

from spotify_cache.backend import SpotifyCache


def make_cache(location: str = "memory://", **options: Any) -> SpotifyCache:
    """A standalone ``SpotifyCache`` with its own key prefix."""
    params: dict[str, Any] = {"OPTIONS": options, "KEY_PREFIX": options.pop("KEY_PREFIX", "t")}
    return SpotifyCache(location, params)


class Collector:
    """Records the keyword arguments of every signal it receives."""

    def __init__(self, signal: Any) -> None:
        self.calls: list[dict[str, Any]] = []
        self.signal = signal

    def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)

    def __enter__(self) -> Collector:
        self.signal.connect(self, weak=False)
        return self

    def __exit__(self, *exc: object) -> None:
        self.signal.disconnect(self)

    @property
    def reasons(self) -> list[str]:
        return [c["reason"] for c in self.calls]
