"""The ``warming-tasks`` command line (``commands``), how it looks (``render``),
how it follows a run (``follow``), and the demo (``demo``, ``embedded``)."""

from __future__ import annotations

from typing import NoReturn

from ..ops.startup import find_project_modules
from .commands import cli

__all__ = ["cli", "main"]


def main(args: list[str] | None = None, prog_name: str = "warming-tasks") -> NoReturn:
    find_project_modules()
    cli.main(args=args, prog_name=prog_name)
