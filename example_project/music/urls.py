from django.urls import path

from . import views

app_name = "music"

urlpatterns = [
    path("", views.home, name="home"),
    path("listeners/<int:pk>/", views.listener_detail, name="listener"),
    path("artists/<int:pk>/", views.artist_detail, name="artist"),
    path("playlists/<int:pk>/", views.playlist_detail, name="playlist"),
]
