"""Catalogue (artists, tracks), listeners, playlists and listening history."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Artist(models.Model):
    name = models.CharField(max_length=200, unique=True)
    # Comma separated, lower case ("indie pop,shoegaze"); a plain field keeps
    # the demo portable between SQLite and PostgreSQL.
    genres = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def genre_list(self) -> list[str]:
        return [genre for genre in self.genres.split(",") if genre]


class Track(models.Model):
    title = models.CharField(max_length=200)
    artist = models.ForeignKey(Artist, on_delete=models.CASCADE, related_name="tracks")
    duration_ms = models.PositiveIntegerField()
    popularity = models.PositiveSmallIntegerField(default=0, help_text="0-100")
    energy = models.FloatField(default=0.5, help_text="0.0-1.0")
    danceability = models.FloatField(default=0.5, help_text="0.0-1.0")
    valence = models.FloatField(default=0.5, help_text="0.0-1.0, musical positiveness")
    tempo = models.FloatField(default=120.0, help_text="beats per minute")

    class Meta:
        ordering = ["artist__name", "title"]
        indexes = [models.Index(fields=["-popularity"])]

    def __str__(self) -> str:
        return f"{self.title} - {self.artist}"


class Listener(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    username = models.CharField(max_length=150, unique=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username


class Playlist(models.Model):
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(Listener, on_delete=models.CASCADE, related_name="playlists")
    tracks = models.ManyToManyField(Track, through="PlaylistEntry", related_name="playlists")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PlaylistEntry(models.Model):
    playlist = models.ForeignKey(Playlist, on_delete=models.CASCADE, related_name="entries")
    track = models.ForeignKey(Track, on_delete=models.CASCADE)
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["playlist", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["playlist", "position"], name="unique_playlist_position"
            )
        ]
        verbose_name_plural = "playlist entries"

    def __str__(self) -> str:
        return f"{self.playlist} #{self.position}: {self.track}"


class ListeningEvent(models.Model):
    listener = models.ForeignKey(Listener, on_delete=models.CASCADE, related_name="events")
    track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="events")
    played_at = models.DateTimeField(db_index=True)
    ms_played = models.PositiveIntegerField()

    class Meta:
        ordering = ["-played_at"]
        indexes = [models.Index(fields=["listener", "track"])]

    def __str__(self) -> str:
        return f"{self.listener} played {self.track_id} at {self.played_at:%Y-%m-%d %H:%M}"
