from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...workload import NoDemoData, replay


class Command(BaseCommand):
    help = "Replay a Zipf-distributed workload through the cached services and report hits."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--requests", type=int, default=2000)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent (default 1.1)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["requests"] < 1:
            raise CommandError("--requests must be at least 1")
        try:
            report = replay(options["requests"], seed=options["seed"], zipf=options["zipf"])
        except NoDemoData as e:
            raise CommandError(str(e)) from e
        self.stdout.write(report.render())
