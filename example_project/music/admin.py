from django.contrib import admin

from .models import Artist, Listener, ListeningEvent, Playlist, PlaylistEntry, Track


@admin.register(Artist)
class ArtistAdmin(admin.ModelAdmin):
    list_display = ["name", "genres"]
    search_fields = ["name", "genres"]


@admin.register(Track)
class TrackAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "artist",
        "popularity",
        "duration_ms",
        "energy",
        "danceability",
        "tempo",
    ]
    list_filter = ["popularity"]
    search_fields = ["title", "artist__name"]
    list_select_related = ["artist"]
    autocomplete_fields = ["artist"]


@admin.register(Listener)
class ListenerAdmin(admin.ModelAdmin):
    list_display = ["username", "country", "user"]
    list_filter = ["country"]
    search_fields = ["username", "user__username"]
    raw_id_fields = ["user"]


class PlaylistEntryInline(admin.TabularInline):
    model = PlaylistEntry
    extra = 0
    autocomplete_fields = ["track"]
    ordering = ["position"]


@admin.register(Playlist)
class PlaylistAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["name", "owner__username"]
    autocomplete_fields = ["owner"]
    inlines = [PlaylistEntryInline]


@admin.register(PlaylistEntry)
class PlaylistEntryAdmin(admin.ModelAdmin):
    list_display = ["playlist", "position", "track"]
    search_fields = ["playlist__name", "track__title"]
    autocomplete_fields = ["playlist", "track"]


@admin.register(ListeningEvent)
class ListeningEventAdmin(admin.ModelAdmin):
    list_display = ["listener", "track", "played_at", "ms_played"]
    list_filter = ["played_at", "listener__country"]
    search_fields = ["listener__username", "track__title", "track__artist__name"]
    date_hierarchy = "played_at"
    raw_id_fields = ["listener", "track"]
    list_select_related = ["listener", "track"]
