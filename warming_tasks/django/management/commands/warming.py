"""``python manage.py warming <command>``: the ``warming-tasks`` command inside a Django
project, with the same commands, options and exit codes (the project's settings
already loaded, its ``WARMING`` dict read)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ....cli import main


class Command(BaseCommand):  # type: ignore[misc] # Django has no types here
    help = "warming-tasks' commands: preload, refresh, predict, stats, check … (see --help)"

    def run_from_argv(self, argv: list[str]) -> None:
        # Click parses the arguments, not Django's argparse: `warming preload --json`
        # means what `warming-tasks preload --json` means, --help included. Django's
        # own --settings and --pythonpath have done their work already (manage.py
        # reads them before it runs a command): they are not ours to parse.
        main(_without_django_options(argv[2:]), prog_name=f"{os.path.basename(argv[0])} {argv[1]}")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("args", nargs="*")

    def handle(self, *args: str, **options: Any) -> None:
        # call_command("warming", "preload", "--json"): returns on success, raises
        # CommandError with the command's exit code otherwise.
        try:
            main(list(args), prog_name="warming")
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
            if code:
                message = f"warming {' '.join(args)} exited {code}"
                raise CommandError(message, returncode=code) from None


def _without_django_options(args: list[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in DJANGO_OPTIONS:
            skip = True  # its value follows
        elif not arg.startswith(tuple(f"{option}=" for option in DJANGO_OPTIONS)):
            kept.append(arg)
    return kept


DJANGO_OPTIONS = ("--settings", "--pythonpath")
