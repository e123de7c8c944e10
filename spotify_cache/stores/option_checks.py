"""Checks for stores' ``OPTIONS`` values: a ``ValueError`` that names the option.

Stores run these from ``Store.check_options``, which the backend calls at
start-up (and ``manage.py check`` calls without building a store), so a typo
fails loudly instead of turning into a silent default or a runtime error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def number(
    options: Mapping[str, Any],
    name: str,
    *,
    minimum: float,
    integer: bool = False,
    optional: bool = False,
    within: str = "OPTIONS",
) -> None:
    """``options[name]``, if present, is a number >= ``minimum`` (an int if
    ``integer``; ``None`` too if ``optional``)."""
    if name not in options:
        return
    value = options[name]
    if value is None and optional:
        return
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
        kind = "an integer" if integer else "a number"
        extra = " or None" if optional else ""
        raise ValueError(f'{within}["{name}"] must be {kind} >= {minimum}{extra}, not {value!r}')


def one_of(options: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> None:
    """``options[name]``, if present, is one of ``choices``."""
    if name in options and options[name] not in choices:
        raise ValueError(f'OPTIONS["{name}"] must be one of {list(choices)}, not {options[name]!r}')
