"""What the copy tests share: filling the other server, reading back what a cache
holds, watching the order keys arrive in, and the command line run in a terminal."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import redis
from redis.cluster import RedisCluster

from .helpers import process_env

Client = redis.Redis | RedisCluster
STOP = "copy-test-stop-watching"
READY = "copy-test-watching"
OWN = "{warming}:"


def fill(  # noqa: PLR0913 - what a filled server is made of, by name
    client: Client,
    count: int,
    *,
    prefix: str = "key:",
    ttl_s: int | None = 1000,
    size: int = 20,
    first: int = 0,
) -> list[str]:
    """``count`` string keys ``<prefix><i>`` with ``ttl_s`` (None: no expiry), written
    a pipeline of 1,000 at a time; their names."""
    keys = [f"{prefix}{i}" for i in range(first, first + count)]
    for start in range(0, len(keys), 1000):
        pipe = client.pipeline(transaction=False)
        for key in keys[start : start + 1000]:
            pipe.set(key, value_of(key, size), ex=ttl_s)
        pipe.execute()
    return keys


def value_of(key: str, size: int = 20) -> bytes:
    return (f"v:{key}:" * (size // 4 + 1)).encode()[:size]


def contents(client: Client, keys: Sequence[str]) -> dict[str, tuple[bytes | None, int]]:
    """Each key's value (a string's) and PTTL, a pipeline of 1,000 keys at a time."""
    found: dict[str, tuple[bytes | None, int]] = {}
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.get(key)
            pipe.pttl(key)
        replies = pipe.execute()
        for key, value, pttl in zip(chunk, replies[::2], replies[1::2], strict=True):
            found[key] = (value, int(pttl))
    return found


def same_contents(
    copied: Mapping[str, tuple[bytes | None, int]],
    origin: Mapping[str, tuple[bytes | None, int]],
    slack_ms: int = 2000,
) -> list[str]:
    """The keys whose value differs, or whose TTL is not the other's within
    ``slack_ms`` (both without one, -1, counts as the same)."""
    wrong = []
    for key, (value, pttl) in origin.items():
        got, got_pttl = copied.get(key, (None, -2))
        same_ttl = (pttl == got_pttl == -1) or (pttl > 0 and abs(got_pttl - pttl) <= slack_ms)
        if got != value or not same_ttl:
            wrong.append(key)
    return wrong


@contextlib.contextmanager
def arrivals(port: int, command: bytes = b"RESTORE") -> Iterator[list[str]]:
    """The keys ``command`` wrote on the Redis at ``port``, in the order the server ran
    them (MONITOR), until the block ends; the suite's own keys left out."""
    seen: list[str] = []
    watcher = redis.Redis(port=port)
    ready = threading.Event()
    client = redis.Redis(port=port)

    def watch() -> None:
        with watcher.monitor() as monitor:  # type: ignore[no-untyped-call]
            while True:
                entry = monitor.next_command()
                words = entry["command"].split()
                if READY in entry["command"]:
                    ready.set()
                    continue
                if STOP in entry["command"]:
                    return
                # The suite's own probe of the dump format is not a copied key.
                if words and words[0].upper().encode() == command and OWN not in words[1]:
                    seen.append(words[1])

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    # MONITOR is on once it shows a marker sent after it: echo one until it does.
    deadline = time.monotonic() + 10
    while not ready.wait(0.02):
        assert time.monotonic() < deadline, "MONITOR never started"
        client.echo(READY)
    try:
        yield seen
    finally:
        client.echo(STOP)
        client.close()
        thread.join(10)
        watcher.close()


def cli_in_terminal(*args: str, env: Mapping[str, str], timeout: float = 120) -> tuple[int, str]:
    """``python -m warming_tasks ARGS`` with a terminal for its stderr, as a person at
    a shell runs it: its exit code and all it drew there (progress bars included)."""
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "warming_tasks", *args],
        env=process_env({**env, "TERM": "xterm", "COLUMNS": "160"}),
        stdout=subprocess.DEVNULL,
        stderr=child,
        stdin=subprocess.DEVNULL,
    )
    os.close(child)
    drawn = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # the terminal closed: the command ended
                    break
                if not chunk:
                    break
                drawn += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
    return code, drawn.decode(errors="replace")


def stored_text(client: redis.Redis) -> list[str]:
    """Every key's name and value (strings, lists, hashes) of a database, as text."""
    found: list[str] = []
    for key in client.scan_iter(count=1000):
        found.append(repr(key))
        kind = client.type(key)
        if kind == b"string":
            found.append(repr(client.get(key)))
        elif kind == b"list":
            found.extend(repr(v) for v in client.lrange(key, 0, -1))
        elif kind == b"hash":
            found.append(repr(client.hgetall(key)))
    return found


def summary_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON summary a ``--json`` run printed."""
    assert done.stdout.strip(), done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary
