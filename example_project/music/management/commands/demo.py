import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from example_project.music import at_rest


class Command(BaseCommand):
    help = "Migrate, create an admin user, seed demo data, replay a workload, then serve the site."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addrport", default="127.0.0.1:8000")
        parser.add_argument("--no-serve", action="store_true", help="stop after the replay")

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        call_command("migrate", interactive=False, verbosity=max(0, verbosity - 1))
        self.ensure_superuser()
        call_command("seed_demo", stdout=self.stdout, verbosity=verbosity)
        self.stdout.write("Replaying a listening workload through the cache:")
        call_command("replay_workload", stdout=self.stdout, verbosity=verbosity)
        self.stdout.write(at_rest.describe())
        if not options["no_serve"]:
            call_command("runserver", options["addrport"], use_reloader=False)

    def ensure_superuser(self) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        given = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        password = given or secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", email="admin@example.com", password=password)
        shown = "the one in DJANGO_SUPERUSER_PASSWORD" if given else password
        # Printed once: only the hash is stored.
        self.stdout.write(self.style.WARNING(f"Created superuser admin, password: {shown}"))
