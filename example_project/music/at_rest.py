"""What the cache holds at rest: one stored value, as a reader of Redis sees it."""

from __future__ import annotations

from django.core.cache import cache

from . import keys, services
from .models import ListeningEvent

ALGORITHMS = {1: "HMAC-authenticated, in clear", 2: "AES-GCM ciphertext", 3: "Fernet ciphertext"}


def describe() -> str:
    """A line showing a listener's cached top tracks as stored: their size and
    first bytes, the sealing algorithm the header names, and whether the title
    of their favourite track can be read in them."""
    event = ListeningEvent.objects.order_by("pk").first()
    if event is None:
        return "At rest: nothing cached yet."
    rows = services.top_tracks(event.listener_id).value
    key = keys.top_tracks(event.listener_id)
    blob = cache._router.route(key).store.get(cache.make_key(key))  # type: ignore[attr-defined]
    if not blob or not rows:
        return "At rest: the value was not kept."
    sealed = ALGORITHMS.get((blob[1] >> 5) & 0x03, "unknown")
    title = str(rows[0].get("title", ""))
    visible = bool(title) and title.encode() in blob
    return (
        f"At rest: {cache.make_key(key)!r} holds {len(blob)} bytes, {blob[:12].hex()}... "
        f"({sealed}: the title {title!r} {'IS' if visible else 'is not'} readable in it)"
    )
