"""The ``warming-tasks`` command line (``commands``), how it looks (``render``),
how it follows a run (``follow``), and the demo (``demo``, ``embedded``)."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from .commands import cli

__all__ = ["cli", "main"]


def main(args: list[str] | None = None, prog_name: str = "warming-tasks") -> NoReturn:
    # The project's own modules (the source, the Django settings) are found from the
    # directory the command runs in, as `celery -A` and `python -m` find them.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    cli.main(args=args, prog_name=prog_name)
