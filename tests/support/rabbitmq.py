"""This machine's RabbitMQ (127.0.0.1:5672, guest/guest) for the tests that use it:
a vhost of the test module's own, made and deleted with rabbitmqctl, so no test
touches another's queues. CI must have it (``.ci/run`` starts it); elsewhere the
tests skip when it is absent."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator

import pytest

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
    """The amqp:// URL of a fresh vhost, deleted afterwards; skip (fail on CI) without
    a RabbitMQ or its rabbitmqctl."""
    if not listening():
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ is not running on {HOST}:{PORT} (.ci/run starts it)")
        pytest.skip(f"no RabbitMQ on {HOST}:{PORT}")
    if shutil.which("rabbitmqctl") is None:
        if os.environ.get("CI"):
            pytest.fail("rabbitmqctl is needed to make the tests' own vhost")
        pytest.skip("no rabbitmqctl to make the tests' own vhost with")
    vhost = f"warming-tests-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@{HOST}:{PORT}/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost)
