from dataclasses import astuple, fields
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...demo_data import SeedSizes, clear_demo_data, has_demo_data, seed


class Command(BaseCommand):
    help = "Create deterministic demo artists, tracks, listeners, playlists and plays."

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = SeedSizes()
        for name in ("listeners", "artists", "tracks", "events", "playlists"):
            parser.add_argument(f"--{name}", type=int, default=getattr(defaults, name))
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument(
            "--force", action="store_true", help="delete existing music data and seed again"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        sizes = SeedSizes(**{field.name: options[field.name] for field in fields(SeedSizes)})
        if min(astuple(sizes)) < 0:
            raise CommandError("sizes cannot be negative")
        if has_demo_data():
            if not options["force"]:
                self.stdout.write("Demo data already present; use --force to seed again.")
                return
            clear_demo_data()
        counts = seed(sizes, seed=options["seed"])
        summary = ", ".join(f"{count} {name}" for name, count in counts.items())
        self.stdout.write(self.style.SUCCESS(f"Seeded {summary} (seed {options['seed']})."))
