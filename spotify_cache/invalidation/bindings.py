"""Model bindings: saving, deleting or relinking a row invalidates what was cached about it.

::

    bind(Track, tags=["track:{pk}", "artist:{artist_id}"], model_tags=["tracks"])

    @bind(keys=lambda artist: [f"artist-page:{artist.pk}"])
    class Artist(models.Model): ...

    SPOTIFY_CACHE_BINDINGS = {"music.Track": {"tags": ["track:{pk}"], "cache": "default"}}

``post_save``, ``post_delete`` and ``m2m_changed`` (both sides of the
relation) each compute the instance's targets (``targets.Binding``) and hand
them to ``transaction.on_commit`` on the instance's database: a rolled-back
transaction invalidates nothing, and a reader cannot re-cache the old row
after the invalidation and before the commit.  The cache calls
(``invalidate``, ``invalidate_tags``, ``invalidate_partition``) carry
``cause="model"`` and a reason such as ``"music.Track pk=3 post_save"``.

Old values.  When a field that feeds a target changes (a track moves to
another artist), the old values' targets go too.  ``pre_save`` loads the row
as it is before the save, with one query by primary key, and only when it
can matter: the model is bound, the instance has a primary key, some target
reads a field other than the primary key, and ``update_fields`` (if given)
names one of those fields.  Only those columns are loaded (templates name
them; callables declare them with ``fields=``, or the whole row is read).
A ``post_init`` snapshot would cost nothing per save but something on every
row loaded, and it is wrong exactly where it matters: for an instance built
with an explicit primary key, for deferred fields, and for a row another
process changed since it was loaded.  The query is right in all three.

Bulk writes.  ``QuerySet.update()``, ``bulk_create()``, ``bulk_update()`` and
raw SQL send no signals: call ``invalidate_model`` (also deferred to the
commit).  ``QuerySet.delete()`` does send ``post_delete`` for each row of a
bound model (a connected receiver turns Django's fast delete off), so it
needs nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, overload

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import router
from django.db.models import Model, QuerySet
from django.db.models import signals as model_signals

from . import plans
from .targets import Binding, Plan, TargetSpec, merge

_registry: dict[type[Model], list[Binding]] = {}
_from_settings: list[Binding] = []
_connected: set[tuple[str, type[Model]]] = set()
_lock = threading.RLock()
_OLD, _CLEARED = "_spotify_cache_old_targets", "_spotify_cache_cleared_pks"
_SETTING = "SPOTIFY_CACHE_BINDINGS"
_SETTING_FIELDS = frozenset({"keys", "tags", "partitions", "model_tags", "cache", "fields"})


# -- registry ------------------------------------------------------------------
@overload
def bind(
    model: type[Model] | str,
    *,
    keys: TargetSpec = ...,
    tags: TargetSpec = ...,
    partitions: TargetSpec = ...,
    model_tags: Iterable[str] | None = ...,
    cache: str = ...,
    fields: Iterable[str] | None = ...,
) -> Binding: ...
@overload
def bind(
    model: None = ...,
    *,
    keys: TargetSpec = ...,
    tags: TargetSpec = ...,
    partitions: TargetSpec = ...,
    model_tags: Iterable[str] | None = ...,
    cache: str = ...,
    fields: Iterable[str] | None = ...,
) -> Callable[[type[Model]], type[Model]]: ...
def bind(
    model: type[Model] | str | None = None,
    *,
    keys: TargetSpec = None,
    tags: TargetSpec = None,
    partitions: TargetSpec = None,
    model_tags: Iterable[str] | None = None,
    cache: str = "default",
    fields: Iterable[str] | None = None,
) -> Binding | Callable[[type[Model]], type[Model]]:
    """Invalidate ``keys``, ``tags`` and ``partitions`` of cache ``cache`` when a
    row of ``model`` changes; ``model_tags`` go on every change.  Without
    ``model``, a class decorator.  ``fields``: the fields callables read."""
    options: dict[str, Any] = dict(
        keys=keys, tags=tags, partitions=partitions, model_tags=model_tags, cache=cache
    )
    if model is None:

        def decorate(cls: type[Model]) -> type[Model]:
            bind(cls, fields=fields, **options)
            return cls

        return decorate
    binding = Binding(_model(model), fields=fields, **options)
    with _lock:
        _registry.setdefault(binding.model, []).append(binding)
        connect_receivers()
    return binding


def unbind(target: Binding | type[Model] | str) -> None:
    """Remove one binding, or every binding of a model."""
    with _lock:
        if isinstance(target, Binding):
            found = _registry.get(target.model, [])
            found[:] = [b for b in found if b is not target]
        else:
            _registry.pop(_model(target), None)
        connect_receivers()


def bindings_for(model: type[Model]) -> list[Binding]:
    """The bindings that apply to rows of ``model`` (its own and its parents')."""
    return [b for klass in model.__mro__ for b in _registry.get(klass, ())]


def _model(model: type[Model] | str) -> type[Model]:
    return apps.get_model(model) if isinstance(model, str) else model


def load_settings() -> list[Binding]:
    """(Re)bind what ``SPOTIFY_CACHE_BINDINGS`` declares; called in ``ready()``."""
    declared = getattr(settings, _SETTING, None) or {}
    if not isinstance(declared, Mapping):
        raise ImproperlyConfigured(f"{_SETTING} must be a dict of 'app_label.Model' -> options")
    with _lock:
        for binding in _from_settings:
            unbind(binding)
        _from_settings[:] = [_bind_setting(label, spec) for label, spec in declared.items()]
    return list(_from_settings)


def _bind_setting(label: str, spec: Any) -> Binding:
    where = f"{_SETTING}[{label!r}]"
    if not isinstance(spec, Mapping):
        raise ImproperlyConfigured(f"{where} must be a dict of bind() options")
    unknown = sorted(set(spec) - _SETTING_FIELDS)
    if unknown:
        raise ImproperlyConfigured(f"{where}: unknown option {unknown[0]!r}")
    try:
        return bind(apps.get_model(label), **spec)
    except (LookupError, ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{where}: {exc}") from exc


# -- receivers -------------------------------------------------------------------
def connect_receivers() -> None:
    """Connect the receivers the bound models need, disconnect the others.

    Per sender, never for every model: a ``post_delete`` receiver turns
    Django's fast delete off, an ``m2m_changed`` one its fast ``add()``."""
    if not apps.models_ready:
        return  # ready() calls this again
    with _lock:
        wanted = _wanted_receivers()
        for name, sender in wanted - _connected:
            signal, receiver = _RECEIVERS[name]
            signal.connect(receiver, sender=sender, weak=False, dispatch_uid=_uid(name))
        for name, sender in _connected - wanted:
            _RECEIVERS[name][0].disconnect(sender=sender, dispatch_uid=_uid(name))
        _connected.clear()
        _connected.update(wanted)


def _uid(name: str) -> str:
    return f"spotify_cache.invalidation.{name}"


def _wanted_receivers() -> set[tuple[str, type[Model]]]:
    bound = [model for model, found in _registry.items() if found]
    wanted: set[tuple[str, type[Model]]] = set()
    for model in apps.get_models():
        if any(issubclass(model, b) for b in bound):
            wanted |= {(name, model) for name in ("pre_save", "post_save", "post_delete")}
    for model in bound:
        wanted |= {("m2m_changed", through) for through in _throughs(model)}
    return wanted


def _throughs(model: type[Model]) -> list[type[Model]]:
    meta = model._meta
    forward = [f.remote_field.through for f in meta.many_to_many]
    reverse = [r.through for r in meta.related_objects if r.many_to_many]  # type: ignore[attr-defined]
    return [through for through in forward + reverse if isinstance(through, type)]


def _on_pre_save(
    sender: type[Model], instance: Model, using: str, update_fields: Any = None, **kw: Any
) -> None:
    needing = _needing_old_row(sender, bindings_for(sender), update_fields)
    old = None
    if needing and instance.pk is not None:
        fields = plans.union_watched(needing)
        old = plans.load_rows(sender, [instance.pk], using, fields).get(instance.pk)
    instance.__dict__[_OLD] = plans.plan_for(needing, [old]) if old is not None else {}


def _needing_old_row(
    sender: type[Model], found: list[Binding], update_fields: Any
) -> list[Binding]:
    """The bindings whose targets may differ between the stored row and the instance:
    they read a field other than the primary key, one the save may write."""
    changed = None if update_fields is None else {_name(sender, f) for f in update_fields}
    return [binding for binding in found if _may_differ(binding, changed)]


def _may_differ(binding: Binding, changed: set[str] | None) -> bool:
    watched = binding.watched()
    if watched is None:
        return True
    if binding.pk_only():
        return False
    return changed is None or bool(watched & changed)


def _name(model: type[Model], attribute: str) -> str:
    for model_field in model._meta.concrete_fields:
        if attribute == model_field.attname:
            return str(model_field.name)
    return attribute


def _on_post_save(sender: type[Model], instance: Model, using: str, **kw: Any) -> None:
    plan = instance.__dict__.pop(_OLD, None) or {}
    merge(plan, plans.plan_for(bindings_for(sender), [instance]))
    plans.schedule(plan, plans.describe(sender, [instance.pk], "post_save"), using)


def _on_post_delete(sender: type[Model], instance: Model, using: str, **kw: Any) -> None:
    plan = plans.plan_for(bindings_for(sender), [instance])
    plans.schedule(plan, plans.describe(sender, [instance.pk], "post_delete"), using)


def _on_m2m_changed(
    sender: type[Model],
    instance: Model,
    action: str,
    reverse: bool,
    model: type[Model],
    pk_set: set[Any] | None,
    using: str,
    **kw: Any,
) -> None:
    related = bindings_for(model)
    if action == "pre_clear" and related:
        instance.__dict__[_CLEARED] = _linked_pks(sender, instance, reverse, model, using)
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    pks = instance.__dict__.pop(_CLEARED, set()) if action == "post_clear" else pk_set or set()
    plan = plans.plan_for(bindings_for(type(instance)), [instance])
    if related and pks:
        rows = plans.load_rows(model, list(pks), using, plans.union_watched(related))
        merge(plan, plans.plan_for(related, rows.values()))
    label = type(instance)._meta.label
    plans.schedule(plan, f"{label} pk={instance.pk} m2m_changed {action}", using)


def _linked_pks(
    through: type[Model], instance: Model, reverse: bool, model: type[Model], using: str
) -> set[Any]:
    """Primary keys of the ``model`` rows linked to ``instance``, before a clear()."""
    owner = model if reverse else type(instance)
    field = next(f for f in owner._meta.many_to_many if f.remote_field.through is through)
    source, target = field.m2m_field_name(), field.m2m_reverse_field_name()
    if reverse:
        source, target = target, source
    rows = through._base_manager.using(using).filter(**{source: instance.pk})
    return set(rows.values_list(target, flat=True))


_RECEIVERS: dict[str, tuple[Any, Callable[..., None]]] = {
    "pre_save": (model_signals.pre_save, _on_pre_save),
    "post_save": (model_signals.post_save, _on_post_save),
    "post_delete": (model_signals.post_delete, _on_post_delete),
    "m2m_changed": (model_signals.m2m_changed, _on_m2m_changed),
}


# -- explicit API for writes that send no signals ------------------------------------
def invalidate_model(
    model: type[Model] | str,
    pks: Iterable[Any] | None = None,
    *,
    instances: Iterable[Model] | None = None,
    queryset: QuerySet[Any] | None = None,
    using: str | None = None,
) -> Plan:
    """Invalidate what rows of ``model`` feed, after the commit on ``using``.

    Rows are named by ``pks`` (loaded now), ``instances`` or a ``queryset``
    (evaluated now: call it *before* an ``update()`` to catch the old values).
    With none of them, every row: the model tags alone when the binding has
    some (O(1)), else each row in turn.  Returns what it scheduled."""
    model = _model(model)
    using = using or router.db_for_write(model)
    pks = None if pks is None else list(pks)
    instances = None if instances is None else list(instances)
    plan = model_plan(model, pks, instances=instances, queryset=queryset, using=using)
    plans.schedule(plan, _bulk_reason(model, pks, instances, queryset), using)
    return plan


def model_plan(
    model: type[Model] | str,
    pks: Iterable[Any] | None = None,
    *,
    instances: Iterable[Model] | None = None,
    queryset: QuerySet[Any] | None = None,
    using: str | None = None,
) -> Plan:
    """What ``invalidate_model`` with the same arguments would invalidate."""
    model = _model(model)
    found = bindings_for(model)
    if not found:
        raise LookupError(f"{model._meta.label} has no cache binding")
    given = [arg for arg in (pks, instances, queryset) if arg is not None]
    if len(given) > 1:
        raise ValueError("give at most one of pks, instances and queryset")
    using = using or router.db_for_write(model)
    if instances is not None:
        return plans.plan_for(found, instances)
    if queryset is not None:
        return _queryset_plan(found, queryset)
    if pks is not None:
        return _pks_plan(model, found, list(pks), using)
    return _whole_model_plan(model, found, using)


def _queryset_plan(found: list[Binding], queryset: QuerySet[Any]) -> Plan:
    fields = plans.union_watched(found)
    rows = queryset if fields is None else queryset.only(*fields)
    return plans.plan_for(found, rows.iterator(chunk_size=2000))


def _pks_plan(model: type[Model], found: list[Binding], pks: list[Any], using: str) -> Plan:
    rows = plans.load_rows(model, pks, using, plans.union_watched(found))
    plan = plans.plan_for(found, rows.values())
    # Rows already gone (raw DELETE): what depends on the primary key alone still
    # goes, and the model tags of every binding.
    gone = [model(pk=pk) for pk in pks if pk not in rows]
    if gone:
        merge(plan, plans.plan_for([b for b in found if b.pk_only()], gone))
        for binding in found:
            merge(plan, {binding.cache: binding.model_targets()})
    return plan


def _whole_model_plan(model: type[Model], found: list[Binding], using: str) -> Plan:
    plan: Plan = {}
    for binding in found:
        if binding.model_tags:
            merge(plan, {binding.cache: binding.model_targets()})
        else:
            rows = model._base_manager.db_manager(using).all().iterator(chunk_size=2000)
            merge(plan, plans.plan_for([binding], rows))
    return plan


def _bulk_reason(model: type[Model], pks: Any, instances: Any, queryset: Any) -> str:
    if pks is not None:
        return plans.describe(model, list(pks), "invalidate_model")
    if instances is not None:
        return plans.describe(model, [i.pk for i in instances], "invalidate_model")
    which = "queryset" if queryset is not None else "all rows"
    return f"{model._meta.label} {which} invalidate_model"
