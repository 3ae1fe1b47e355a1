"""The ``warming-tasks`` command line (``commands``), how it looks (``render``),
how it follows a run (``follow``), and the demo (``demo``, ``embedded``)."""

from __future__ import annotations

from typing import NoReturn

from .commands import cli

__all__ = ["cli", "main"]


def main() -> NoReturn:
    cli.main(prog_name="warming-tasks")
