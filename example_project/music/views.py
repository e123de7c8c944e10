"""Pages over the cached services; each shows where its data came from and how long it took."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from . import services
from .models import Artist, Listener, Playlist


def home(request: HttpRequest) -> HttpResponse:
    country = request.GET.get("country", "").upper()[:2] or None
    countries = Listener.objects.order_by("country").values_list("country", flat=True).distinct()
    context = {
        "chart": services.global_chart(country, limit=20),
        "country": country,
        "countries": countries,
        "listeners": services.active_listeners(),
    }
    return render(request, "music/home.html", context)


def listener_detail(request: HttpRequest, pk: int) -> HttpResponse:
    listener = get_object_or_404(Listener, pk=pk)
    context = {
        "listener": listener,
        "top_tracks": services.top_tracks(listener.pk),
        "recommendations": services.recommendations(listener.pk),
        "playlists": listener.playlists.all(),
    }
    return render(request, "music/listener.html", context)


def artist_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        stats = services.artist_stats(pk)
    except Artist.DoesNotExist:
        raise Http404("No such artist") from None
    return render(request, "music/artist.html", {"stats": stats})


def playlist_detail(request: HttpRequest, pk: int) -> HttpResponse:
    playlist = get_object_or_404(Playlist.objects.select_related("owner"), pk=pk)
    context = {"playlist": playlist, "entries": services.playlist_tracks(playlist.pk)}
    return render(request, "music/playlist.html", context)
