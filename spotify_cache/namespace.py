"""A cache's key namespace: which store keys it can make, as a Redis glob and as a test.

``KEY_PREFIX`` is free text, and Django joins it to the version and the key
with ``:``.  So a glob built from it has to escape its glob characters (a
prefix ``b?`` must not match ``bc``), and even an escaped glob is too wide:
``a:*:*`` also matches ``a:x:1:k``, a key of the ``KEY_PREFIX="a:x"`` cache.
``Namespace`` samples the cache's own ``make_key`` with marker strings, so it
works for any ``KEY_FUNCTION`` that embeds the key and the version, and
derives from that one sample a glob for SCAN and a regular expression that
accepts only keys whose version part is a version (an integer, or the
internal ``GENERATION_VERSION``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

#: The version the backend files internal records under, beside integer versions.
GENERATION_VERSION = "_gen"
#: The version part of a key this cache makes, as a regular expression.
VERSION_PATTERN = r"(?:-?[0-9]+|" + re.escape(GENERATION_VERSION) + ")"

KeyMaker = Callable[[Any, Any], str]
_KEY_MARK, _VERSION_MARK = "\x00spotify-key\x00", "\x00spotify-version\x00"
_MARKS = re.compile("(" + re.escape(_KEY_MARK) + "|" + re.escape(_VERSION_MARK) + ")")
_GLOB_SPECIAL = frozenset("*?[]\\")


def glob_escape(text: str) -> str:
    """``text`` as a Redis glob that matches exactly ``text``."""
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in text)


def _sample(make_key: KeyMaker, version: Any) -> str | None:
    """``make_key`` applied to the key marker, or ``None`` if it refuses it."""
    try:
        return make_key(_KEY_MARK, version)
    except Exception:  # a custom KEY_FUNCTION may validate its input: no namespace then
        return None


def _parts(make_key: KeyMaker) -> list[str] | None:
    """The sample key split into literal parts and the two markers; ``None`` if
    ``make_key`` does not embed both the key and the version."""
    sample = _sample(make_key, _VERSION_MARK)
    if sample is None or _KEY_MARK not in sample or _VERSION_MARK not in sample:
        return None
    return [part for part in _MARKS.split(sample) if part]


def _glob(parts: list[str]) -> str:
    return "".join(
        "*" if part in (_KEY_MARK, _VERSION_MARK) else glob_escape(part) for part in parts
    )


def _regex(parts: list[str]) -> re.Pattern[str]:
    pieces = {_KEY_MARK: ".*", _VERSION_MARK: VERSION_PATTERN}
    return re.compile("".join(pieces.get(part) or re.escape(part) for part in parts), re.DOTALL)


class Namespace:
    """The store keys one cache can make, from its ``make_key(key, version)``.

    ``glob`` and ``owns`` are sampled once, here; ``pattern`` and ``strip``
    call ``make_key`` again each time, since the version they are given may
    be one the sample did not cover.
    """

    def __init__(self, make_key: KeyMaker) -> None:
        self._make_key = make_key
        parts = _parts(make_key)
        #: A Redis glob matching every key this cache can make ("" if unknown).
        self.glob = "" if parts is None else _glob(parts)
        self._owned = None if parts is None else _regex(parts)

    def owns(self, key: str) -> bool:
        """Whether this cache could have made the store key ``key``."""
        return self._owned is not None and self._owned.fullmatch(key) is not None

    def pattern(self, user_glob: str, version: Any = None) -> str:
        """A store glob for the caller's glob ``user_glob`` at ``version``: the
        prefix and version escaped, the caller's glob kept as it is."""
        around = self._around_key(version)
        if around is None:  # the key function hides the key: the best guess is its own output
            return self._make_key(user_glob, version)
        head, tail = around
        return glob_escape(head) + user_glob + glob_escape(tail)

    def strip(self, store_key: str, version: Any = None) -> str:
        """The caller's key inside the store key ``store_key`` made at ``version``."""
        around = self._around_key(version)
        if around is None:
            return store_key[len(self._make_key("", version)) :]
        head, tail = around
        end = len(store_key) - len(tail)
        if store_key.startswith(head) and store_key.endswith(tail) and end >= len(head):
            return store_key[len(head) : end]
        return store_key

    def _around_key(self, version: Any) -> tuple[str, str] | None:
        """What ``make_key`` puts before and after the key at ``version``."""
        sample = _sample(self._make_key, version)
        if sample is None or sample.count(_KEY_MARK) != 1:
            return None
        head, tail = sample.split(_KEY_MARK)
        return head, tail


def prefixes_collide(first: str, second: str) -> bool:
    """Whether caches with Django's key format and these ``KEY_PREFIX`` values on
    one database can make the same store key: equal prefixes, or one that is the
    other's followed by ``:<version>`` (``"app"`` and ``"app:1"``: the key
    ``app:1:1:session`` is ``1:session`` to one and ``session`` to the other)."""
    return first == second or _nested(first, second) or _nested(second, first)


def _nested(outer: str, inner: str) -> bool:
    shape = re.escape(outer) + ":" + VERSION_PATTERN + "(?::.*)?"
    return re.fullmatch(shape, inner, re.DOTALL) is not None
