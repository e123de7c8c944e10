"""Lua scripts, one per file, loaded by name."""

from functools import cache
from importlib.resources import files


@cache
def source(name: str) -> str:
    """The text of ``<name>.lua``."""
    return (files(__package__) / f"{name}.lua").read_text()
