"""Key rotation: which key ids seal the values a cache holds, and what to do next.

Every blob names the key that sealed it in header byte 2 (``codecs.framing``).
``key_usage`` samples the cache's keys (SCAN on Redis, never KEYS; the dict on
the memory store), counts blobs per key id, and maps each id to the configured
key it belongs to: the current key (the first, which seals), an old key (still
opens), or none (a dropped key: those values read as misses until they expire
or are written again).  The procedure (README, Security model):

1. add the new key *first*: ``ENCRYPTION_KEYS = [new, old]``, deploy;
2. wait for the longest TTL, checking with ``manage.py rotatecachekeys`` that
   the old key's count falls to zero (values without a TTL keep it in use:
   write them again, or accept that they become misses);
3. drop the old key: ``ENCRYPTION_KEYS = [new]``, deploy.

Each report is recorded in the audit log (``rotate_keys``) with the stage it
found, so every step leaves a row.  Nothing here reads a value or a key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from .. import options as config
from ..codecs.framing import FORMAT_VERSION, HEADER_SIZE
from ..codecs.sealing import ALGORITHMS, decode_key, derive, key_id
from ..models import Action, Outcome
from . import audit

CURRENT, OLD, OLD_UNUSED, UNKNOWN = (
    "current",
    "old (still needed)",
    "old (no values seen)",
    "unknown (dropped key)",
)
#: Shorter blobs are version records, locks or junk, never a sealed value.
MIN_SEALED = HEADER_SIZE + 16
_BATCH = 500


@dataclass
class KeyUsage:
    """What one sample of a cache found.  ``keys``: ``{label: key id}`` of the
    configured keys in order (the first seals); ``ids``: blobs per key id."""

    alias: str
    algorithm: str
    keys: dict[str, int]
    sampled: int = 0
    ids: Counter[int] = field(default_factory=Counter)
    unsealed: int = 0
    complete: bool = True

    def status(self, kid: int) -> str:
        """``current``, ``old (still needed)``, ``old (no values seen)`` or ``unknown``."""
        ids = list(self.keys.values())
        if kid == ids[0]:
            return CURRENT
        if kid in ids[1:]:
            return OLD if self.ids[kid] else OLD_UNUSED
        return UNKNOWN

    def names(self, kid: int) -> list[str]:
        """The settings entries whose key has id ``kid`` (two when ids collide)."""
        return [label for label, i in self.keys.items() if i == kid]

    def rows(self) -> list[tuple[int, int, str]]:
        """``(key id, values, status)``: configured keys in order, then unknown ids."""
        configured = list(dict.fromkeys(self.keys.values()))
        unknown = sorted((k for k in self.ids if k not in configured), key=lambda k: -self.ids[k])
        return [(kid, self.ids[kid], self.status(kid)) for kid in configured + unknown]

    @property
    def stage(self) -> str:
        """Where the rotation stands, by what the sample found."""
        if any(self.status(k) == UNKNOWN for k in self.ids):
            return "values sealed with dropped keys remain (they read as misses)"
        if len(set(self.keys.values())) == 1:
            return "one key: nothing to rotate"
        if any(self.status(k) == OLD for k in self.ids):
            return "rotating: keep the old keys until their values expire"
        return "no values under the old keys in the sample: drop them once the longest TTL passed"

    def details(self) -> dict[str, Any]:
        """The audit row's details: ids and counts only, never a key."""
        return {
            "algorithm": self.algorithm,
            "sampled": self.sampled,
            "complete": self.complete,
            "unsealed": self.unsealed,
            "keys": [{"setting": label, "key_id": kid} for label, kid in self.keys.items()],
            "in_use": {str(kid): count for kid, count in sorted(self.ids.items())},
            "stage": self.stage,
        }


def configured_keys(options: Mapping[str, Any]) -> tuple[str, dict[str, int]]:
    """``(algorithm, {setting name: key id})`` for a cache's ``OPTIONS``, in the order
    the sealer uses them (``ENCRYPTION_KEYS``, else ``SECRET_KEY`` and its fallbacks)."""
    keys = config.encryption_keys(options)
    name = config.algorithm(options, keys)
    purpose = ALGORITHMS[name].name
    if keys:
        materials = {f"ENCRYPTION_KEYS[{i}]": decode_key(k) for i, k in enumerate(keys)}
    else:
        fallbacks = getattr(settings, "SECRET_KEY_FALLBACKS", [])
        materials = {"SECRET_KEY": settings.SECRET_KEY.encode()}
        materials.update(
            {f"SECRET_KEY_FALLBACKS[{i}]": s.encode() for i, s in enumerate(fallbacks)}
        )
    return name, {label: key_id(derive(m, purpose)) for label, m in materials.items() if m}


def key_usage(cache: Any, options: Mapping[str, Any], alias: str, sample: int) -> KeyUsage:
    """Count the key ids of up to ``sample`` of ``cache``'s stored blobs."""
    algorithm, keys = configured_keys(options)
    usage = KeyUsage(alias, algorithm, keys)
    for blob in _blobs(cache, sample, usage):
        if blob is None:
            continue
        if len(blob) < MIN_SEALED or blob[0] != FORMAT_VERSION:
            usage.unsealed += 1  # invalidation markers, version records, locks, junk
        else:
            usage.ids[blob[2]] += 1
    return usage


def _blobs(cache: Any, sample: int, usage: KeyUsage) -> Iterator[bytes | None]:
    """Blobs of up to ``sample`` of the cache's keys, read below the codec."""
    for store, keys in _batches(cache, sample, usage):
        yield from store.get_many(keys)


def _batches(cache: Any, sample: int, usage: KeyUsage) -> Iterator[tuple[Any, list[str]]]:
    """``(store, keys)`` in batches of one store each, ``usage.sampled`` counting them."""
    batch: list[str] = []
    current = None
    for store, key in _keys(cache):
        if usage.sampled >= sample:
            usage.complete = False
            break
        if batch and (store is not current or len(batch) >= _BATCH):
            yield current, batch
            batch = []
        current = store
        usage.sampled += 1
        batch.append(key)
    if batch:
        yield current, batch


def _keys(cache: Any) -> Iterator[tuple[Any, str]]:
    """``(raw store, store key)`` for each key of the cache, each key once."""
    seen: set[str] = set()
    glob = cache.namespace.glob or "*"
    for store in _stores(cache):
        for key in store.iter_keys(glob):
            if key not in seen:
                seen.add(key)
                yield store, key


def _stores(cache: Any) -> list[Any]:
    # A partition with store options of its own keeps its keys in a store of its own
    # (a memory quota): the router lists them all; the remote below any wrapper.
    stores = getattr(getattr(cache, "_router", None), "stores", None) or [cache.store]
    unique = {id(s): getattr(s, "remote", s) for s in stores}
    return list({id(s): s for s in unique.values()}.values())


def record(usage: KeyUsage, actor: Any = None) -> bool:
    """The ``rotate_keys`` audit row of one report."""
    return audit.record(
        Action.ROTATE_KEYS,
        actor=actor or audit.command_actor(),
        alias=usage.alias,
        outcome=Outcome.OK,
        reason=usage.stage,
        details=usage.details(),
    )
