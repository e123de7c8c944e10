"""Invalidation hooks: writes that make a cached result stale delete it after commit."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import services
from .models import ListeningEvent, PlaylistEntry


@receiver(post_save, sender=ListeningEvent, dispatch_uid="music.forget_top_tracks")
def forget_top_tracks(sender: type, instance: ListeningEvent, **kwargs: Any) -> None:
    # After commit: deleting earlier would let a concurrent reader cache the
    # pre-commit history again, and a rollback would need no invalidation.
    transaction.on_commit(partial(services.forget_listener, instance.listener_id))


@receiver(post_save, sender=PlaylistEntry, dispatch_uid="music.forget_playlist_on_save")
@receiver(post_delete, sender=PlaylistEntry, dispatch_uid="music.forget_playlist_on_delete")
def forget_playlist(sender: type, instance: PlaylistEntry, **kwargs: Any) -> None:
    transaction.on_commit(partial(services.forget_playlist, instance.playlist_id))
