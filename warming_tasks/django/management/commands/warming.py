"""``python manage.py warming <command>``: the ``warming-tasks`` command inside a Django
project, with the same commands, options and exit codes (the project's settings
already loaded, its ``WARMING`` dict read)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand

from ....cli import main


class Command(BaseCommand):  # type: ignore[misc] # Django has no types here
    help = "warming-tasks' commands: preload, refresh, predict, stats, check … (see --help)"

    def run_from_argv(self, argv: list[str]) -> None:
        # Click parses the arguments, not Django's argparse: `warming preload --json`
        # means what `warming-tasks preload --json` means, --help included.
        main(argv[2:], prog_name=f"{os.path.basename(argv[0])} {argv[1]}")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("args", nargs="*")

    def handle(self, *args: str, **options: Any) -> None:
        # call_command("warming", "preload", "--json"): the same, exiting with the code.
        main(list(args), prog_name="warming")
