"""Servers the tests use but do not start themselves: a test skips only where this
machine does not have the server; where it has it, a server that does not answer
fails the test (``.ci/run`` starts every installed one, so a skip would hide it)."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

# server: the programs whose presence says it is installed here
PROGRAMS: dict[str, tuple[str, ...]] = {
    "PostgreSQL": ("pg_ctlcluster", "postgres"),
    "MariaDB": ("mysqld_safe", "mariadbd", "mysqld"),
    "RabbitMQ": ("rabbitmq-server",),
}


def installed(server: str) -> bool:
    # Server binaries live in sbin, which a user's PATH may leave out.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return any(shutil.which(program, path=path) for program in PROGRAMS[server])


def not_answering(server: str, why: object) -> NoReturn:
    """Skip where ``server`` is not installed; fail where it is but does not answer."""
    if installed(server):
        pytest.fail(f"{server} is installed here but does not answer ({why}): start it")
    pytest.skip(f"{server} is not installed here ({why})")
