from django.apps import AppConfig


class MusicConfig(AppConfig):
    name = "example_project.music"
    label = "music"
    verbose_name = "Music (example)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import cache_bindings

        cache_bindings.connect_if_enabled()
