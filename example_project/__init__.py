"""A small Spotify-like site whose expensive results go through ``spotify_cache``."""
