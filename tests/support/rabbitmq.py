"""This machine's RabbitMQ (127.0.0.1:5672, guest/guest) for the tests that use it:
a vhost of the test module's own, made and deleted with rabbitmqctl, so no test
touches another's queues. ``.ci/run`` starts it where it is installed; the
tests skip only where it is not."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from .installed import not_answering

HOST, PORT = "127.0.0.1", 5672


def rabbitmqctl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rabbitmqctl", *args], check=True, capture_output=True, text=True, timeout=timeout
    )


def listening() -> bool:
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def own_vhost() -> Iterator[str]:
    """The amqp:// URL of a fresh vhost, deleted afterwards; skip where RabbitMQ is not
    installed, fail where it is but does not answer."""
    if not listening():
        not_answering("RabbitMQ", f"nothing listens on {HOST}:{PORT}")
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("RabbitMQ is installed but rabbitmqctl is not on PATH: the tests need it")
    vhost = f"warming-tests-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@{HOST}:{PORT}/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost)
