"""Where the CLI speaks: stdout for results, stderr for progress and one-line
failures, each with its exit code."""

from __future__ import annotations

from typing import NoReturn

from rich.console import Console


def _console(stderr: bool) -> Console:
    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal:
        # In a pipe or a log no one resizes: a table as wide as its rows, never cut
        # to 80 columns (``prelo…``).
        console.width = WIDE
    return console


WIDE = 1000
out = _console(stderr=False)
err = _console(stderr=True)

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_KEYS_FAILED = 3


class Failure(Exception):
    """A failure to report in one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    raise Failure(message, code)
