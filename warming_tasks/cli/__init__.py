"""The ``warming-tasks`` command line (``commands``; ``copying``: the copy from another
Redis), how it looks (``render``), how it follows a run (``follow``), and the demo
(``demo``, ``embedded``)."""

from __future__ import annotations

from typing import NoReturn

from ..ops.startup import find_project_modules
from .commands import cli
from .copying import copy_command

cli.add_command(copy_command)

__all__ = ["cli", "main"]


def main(args: list[str] | None = None, prog_name: str = "warming-tasks") -> NoReturn:
    find_project_modules()
    cli.main(args=args, prog_name=prog_name)
