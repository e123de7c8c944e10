"""Redis's glob dialect as Python regular expressions, so every store matches alike.

``fnmatch`` is not Redis: it negates a class with ``!`` where Redis uses
``^`` (so ``a[!x]b`` and ``a[^x]b`` match opposite keys) and has no
backslash escapes.  This module follows ``stringmatchlen`` in Redis's
``util.c`` instead, byte by byte over the key's UTF-8 bytes, as Redis sees
them:

- ``*`` any run of bytes, ``?`` one byte, ``\\x`` the byte ``x`` (a trailing
  ``\\`` is itself);
- ``[...]`` one byte from a class, ``[^...]`` one byte outside it; inside,
  ``\\x`` is ``x``, ``a-z`` a range (ends in either order, compared as C's
  signed ``char``), ``]`` first closes an empty class, and a class left open
  runs to the end of the pattern;
- a pattern other than ``*`` never matches the empty key (``SCAN`` skips the
  matcher only for ``*``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

_ALL_BYTES = range(256)


def _signed(byte: int) -> int:
    """``byte`` as C's signed ``char``: Redis compares range ends that way."""
    return byte - 256 if byte >= 128 else byte


def _byte_class(members: set[int]) -> bytes:
    """A regex matching one byte of ``members``."""
    if not members:
        return b"(?!)"
    return b"[" + b"".join(b"\\x%02x" % byte for byte in sorted(members)) + b"]"


def _range(start: int, end: int) -> set[int]:
    low, high = sorted((_signed(start), _signed(end)))
    return {byte for byte in _ALL_BYTES if low <= _signed(byte) <= high}


def _bracket(pattern: bytes, at: int) -> tuple[bytes, int]:
    """The class opening at ``pattern[at] == "["``: its regex and where it ends."""
    at += 1
    negated = pattern[at : at + 1] == b"^"
    at += negated
    members: set[int] = set()
    while at < len(pattern) and pattern[at] != ord("]"):
        if pattern[at] == ord("\\") and at + 1 < len(pattern):
            at += 1
            members.add(pattern[at])
        elif at + 2 < len(pattern) and pattern[at + 1] == ord("-"):
            members |= _range(pattern[at], pattern[at + 2])
            at += 2
        else:
            members.add(pattern[at])
        at += 1
    chosen = set(_ALL_BYTES) - members if negated else members
    return _byte_class(chosen), at + 1


def _outside(pattern: bytes, at: int) -> tuple[bytes, int]:
    """The regex of the token at ``pattern[at]`` outside a class, and the next position."""
    char = pattern[at]
    if char == ord("*"):
        while at + 1 < len(pattern) and pattern[at + 1] == ord("*"):
            at += 1
        return b".*", at + 1
    if char == ord("?"):
        return b".", at + 1
    if char == ord("["):
        return _bracket(pattern, at)
    if char == ord("\\") and at + 1 < len(pattern):
        at += 1
    return re.escape(pattern[at : at + 1]), at + 1


def translate(pattern: str) -> bytes:
    """The regular expression (over UTF-8 bytes) for the Redis glob ``pattern``."""
    raw = pattern.encode("utf-8", "surrogatepass")
    out, at = [], 0
    while at < len(raw):
        piece, at = _outside(raw, at)
        out.append(piece)
    body = b"".join(out)
    # stringmatchlen matches an empty key only with an empty pattern; SCAN bypasses it for "*".
    return body if pattern in ("", "*") else b"(?=.)" + body


@functools.lru_cache(maxsize=256)
def compile_glob(pattern: str) -> re.Pattern[bytes]:
    """``translate(pattern)``, compiled (and cached: stores reuse a few patterns)."""
    return re.compile(translate(pattern), re.DOTALL)


def glob_matcher(pattern: str) -> Callable[[str], bool]:
    """A test of whether a str key matches the Redis glob ``pattern``, as Redis would say."""
    regex = compile_glob(pattern)
    return lambda key: regex.fullmatch(key.encode("utf-8", "surrogatepass")) is not None
