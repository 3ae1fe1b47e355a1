"""Real worker and beat processes for the integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import psutil

SUPPORT = Path(__file__).parent / "support"
REPO = Path(__file__).parent.parent


def process_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a child process: ours minus WARMING_/CELERY_/TEST_, plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("WARMING_", "CELERY_", "TEST_"))
    }
    env["PYTHONPATH"] = os.pathsep.join([str(SUPPORT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def cli(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m warming_tasks ARGS`` as a user runs it: its output and exit code."""
    return subprocess.run(
        [sys.executable, "-m", "warming_tasks", *args],
        env=process_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class CeleryProcess:
    """``celery -A warming_tasks <command>`` in a directory of its own, logging to a file."""

    READY = "ready."

    def __init__(
        self,
        command: list[str],
        env: Mapping[str, str],
        workdir: Path,
        app: str = "warming_tasks",
    ) -> None:
        self.command = command
        self.app = app
        self.env = process_env(env)
        self.workdir = workdir
        self.log_path = workdir / f"{command[0]}-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait_for: str | None = READY, timeout: float = 30) -> CeleryProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", self.app, *self.command],
            cwd=self.workdir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        if wait_for:
            self.wait_for(wait_for, timeout)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.command[0]} exited early:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not seen in {timeout}s:\n{self.log()[-3000:]}")

    def children(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 15) -> None:
        """Stop gracefully, then by force; leave no process behind."""
        if self.process is None:
            return
        family = self.children()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _, alive = psutil.wait_procs(family, timeout=5)
        for child in alive:
            child.kill()
        self.process = None


def worker(env: Mapping[str, str], workdir: Path, concurrency: int = 2) -> CeleryProcess:
    name = f"w{time.monotonic_ns()}@%h"
    command = [
        "worker",
        "-c",
        str(concurrency),
        "-l",
        "info",
        "-n",
        name,
        "--without-mingle",
        "--without-gossip",
    ]
    return CeleryProcess(command, env, workdir)


def beat(env: Mapping[str, str], workdir: Path) -> CeleryProcess:
    schedule = workdir / f"beat-schedule-{time.monotonic_ns()}"
    return CeleryProcess(["beat", "-l", "info", "-s", str(schedule)], env, workdir)
