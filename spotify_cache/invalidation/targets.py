"""What one model instance invalidates: keys, tags and partitions, per cache alias.

A ``Binding`` turns an instance into ``Targets``.  Each of ``keys``, ``tags``
and ``partitions`` is a callable ``instance -> Iterable[str]`` or a list of
format strings filled from the instance's attributes (``"track:{pk}"``,
``"artist:{artist_id}"``, ``"artist:{artist.name}"``).

A key template whose literal text holds an unescaped ``*``, ``?`` or ``[``
is a glob (``"track:{pk}:*"``), invalidated with a SCAN; the values filled
into it are escaped, so a title ``"Why?"`` never widens the match.  Any
other key template names one key, whatever characters its values bring.
Strings returned by a callable are handed to ``cache.invalidate`` as they
are, which detects globs the same way.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model

TargetFunction = Callable[[Any], Iterable[str]]
TargetSpec = TargetFunction | Iterable[str] | None
_GLOB_SPECIAL = frozenset("*?[]\\")
_ROOT = re.compile(r"[.\[]")


def has_glob(text: str) -> bool:
    """True if ``text`` holds an unescaped ``*``, ``?`` or ``[``."""
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "*?[":
            return True
    return False


def glob_escape(text: str) -> str:
    """``text`` as a glob matching exactly ``text``."""
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in text)


@dataclass
class Targets:
    """Keys (with the ``glob`` flag for ``cache.invalidate``), tags and partitions."""

    keys: dict[str, bool | None] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    partitions: set[str] = field(default_factory=set)

    def update(self, other: Targets) -> None:
        self.keys.update(other.keys)
        self.tags |= other.tags
        self.partitions |= other.partitions

    def __bool__(self) -> bool:
        return bool(self.keys or self.tags or self.partitions)


#: Cache alias -> what to invalidate in that cache.
Plan = dict[str, Targets]


def merge(plan: Plan, other: Mapping[str, Targets]) -> Plan:
    """Add ``other`` into ``plan`` (in place) and return ``plan``."""
    for alias, targets in other.items():
        plan.setdefault(alias, Targets()).update(targets)
    return plan


class _InstanceFormatter(string.Formatter):
    """``str.format`` over an instance's attributes, optionally glob-escaping values."""

    def __init__(self, escape: bool) -> None:
        self._escape = escape

    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, int):
            raise ValueError("templates name attributes: use '{pk}', not '{}' or '{0}'")
        return getattr(kwargs["instance"], key)

    def format_field(self, value: Any, format_spec: str) -> str:
        text = super().format_field(value, format_spec)
        return glob_escape(text) if self._escape else text


@dataclass(frozen=True)
class Template:
    """One format string; ``roots`` are the attribute names it reads first."""

    text: str
    glob: bool
    roots: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Template:
        parts = list(string.Formatter().parse(text))
        literal = "".join(part[0] for part in parts)
        names = [part[1] for part in parts if part[1] is not None]
        if any(not name or name.isdigit() for name in names):
            raise ValueError(f"template {text!r}: name an attribute, as in '{{pk}}'")
        return cls(text, has_glob(literal), frozenset(_ROOT.split(n)[0] for n in names))

    def render(self, instance: Any) -> str:
        return _InstanceFormatter(self.glob).vformat(self.text, (), {"instance": instance})


def _source(spec: TargetSpec, what: str) -> TargetFunction | tuple[Template, ...]:
    if spec is None:
        return ()
    if callable(spec):
        return spec
    if isinstance(spec, str | bytes):
        raise TypeError(
            f"{what} must be a list of templates or a callable, not the string {spec!r}"
        )
    return tuple(Template.parse(text) for text in spec)


def _field_name(meta: Any, attribute: str) -> str | None:
    """The concrete field an attribute reads (``artist_id`` -> ``artist``), or None."""
    if attribute == "pk":
        return str(meta.pk.name)
    for model_field in meta.concrete_fields:
        if attribute in (model_field.name, model_field.attname):
            return str(model_field.name)
    return None


class Binding:
    """What changes to rows of ``model`` invalidate in cache ``cache``."""

    def __init__(
        self,
        model: type[Model],
        *,
        keys: TargetSpec = None,
        tags: TargetSpec = None,
        partitions: TargetSpec = None,
        model_tags: Iterable[str] | None = None,
        cache: str = "default",
        fields: Iterable[str] | None = None,
    ) -> None:
        self.model = model
        self.cache = cache
        self._keys = _source(keys, "keys")
        self._tags = _source(tags, "tags")
        self._partitions = _source(partitions, "partitions")
        if isinstance(model_tags, str):
            raise TypeError(f"model_tags must be a list, not the string {model_tags!r}")
        self.model_tags = tuple(model_tags or ())
        self._declared = None if fields is None else tuple(fields)
        self._watched: frozenset[str] | None = None
        self._watched_known = False

    def __repr__(self) -> str:
        return f"<Binding {self.model._meta.label} -> {self.cache!r}>"

    def targets(self, instance: Any) -> Targets:
        """Everything ``instance`` (as it is now) invalidates, model tags included."""
        found = Targets(tags=set(self.model_tags))
        for key, glob in self._render_keys(instance):
            found.keys[key] = glob
        found.tags.update(_render(self._tags, instance))
        found.partitions.update(_render(self._partitions, instance))
        return found

    def model_targets(self) -> Targets:
        """What a change to any row invalidates: model tags and fixed partitions."""
        fixed = self._partitions if isinstance(self._partitions, tuple) else ()
        return Targets(
            tags=set(self.model_tags),
            partitions={t.text for t in fixed if not t.roots},
        )

    def _render_keys(self, instance: Any) -> Iterator[tuple[str, bool | None]]:
        if callable(self._keys):
            for key in self._keys(instance):
                yield key, None
            return
        for template in self._keys:
            yield template.render(instance), template.glob

    def watched(self) -> frozenset[str] | None:
        """Names of the fields the targets depend on; ``None`` when unknown (a
        callable without ``fields=``, or a template reading a non-field)."""
        if not self._watched_known:
            self._watched = self._compute_watched()
            self._watched_known = True
        return self._watched

    def pk_only(self) -> bool:
        """True when the targets depend on the primary key alone."""
        return self.watched() == {self.model._meta.pk.name}

    def _compute_watched(self) -> frozenset[str] | None:
        meta = self.model._meta
        if self._declared is not None:
            names = {meta.pk.attname, *self._declared}
        elif any(callable(s) for s in (self._keys, self._tags, self._partitions)):
            return None
        else:
            sources = (self._keys, self._tags, self._partitions)
            names = {"pk"} | {root for s in sources for t in s for root in t.roots}  # type: ignore[union-attr]
        fields = {_field_name(meta, name) for name in names}
        return None if None in fields else frozenset(f for f in fields if f is not None)


def _render(source: TargetFunction | tuple[Template, ...], instance: Any) -> Iterator[str]:
    if callable(source):
        yield from source(instance)
    else:
        for template in source:
            yield template.render(instance)
