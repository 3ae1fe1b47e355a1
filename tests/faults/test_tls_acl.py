"""The cache Redis over TLS (``rediss://``, a self-signed certificate the test makes)
with an ACL user that may only touch the prefix's keys."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from warming_tasks.cli.embedded import RedisProcess, free_port
from warming_tasks.errors import WarmingError

from ..helpers import CONFIG_MODULE, Processes, ServerFactory, cli, warming_lines
from ..support.fault_sources import CONFIG_KEY, value_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]

USER, PASSWORD, WRONG = "warmer", "Warmer-Pw-81", "Wrong-Pw-82"
PREFIX = "app:"
KEYS = [f"key:{i}" for i in range(50)]


@dataclass
class TlsCache:
    server: RedisProcess
    tls_port: int
    ca: Path

    def url(self, password: str = PASSWORD) -> str:
        return (
            f"rediss://{USER}:{password}@127.0.0.1:{self.tls_port}/0"
            f"?ssl_cert_reqs=required&ssl_ca_certs={self.ca}"
        )

    def masked(self) -> str:
        return f"rediss://{USER}:***@127.0.0.1:{self.tls_port}/0"


def make_certificate(directory: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl CLI to make a certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_cache(servers: ServerFactory, tmp_path: Path) -> TlsCache:
    """A redis-server with a TLS port and an ACL user limited to ``app:*`` keys."""
    cert, key = make_certificate(tmp_path)
    tls_port = free_port()
    args = ["--save", "", "--appendonly", "no", "--tls-port", str(tls_port)]
    args += ["--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    args += ["--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
    try:
        server = servers("tls-cache", args)
    except WarmingError as exc:
        # A redis-server built without TLS refuses the directive at once; any other
        # failure to start (a slow start on a loaded machine) is a failure.
        if "Bad directive" not in str(exc):
            raise
        pytest.skip(f"redis-server here is built without TLS: {exc}")
    admin = server.client()
    admin.acl_setuser(
        USER,
        enabled=True,
        passwords=[f"+{PASSWORD}"],
        keys=[f"{PREFIX}*"],
        commands=["+@all", "-@dangerous"],
    )
    admin.close()
    return TlsCache(server, tls_port, cert)


def worker_env(cache_url: str, broker: RedisProcess, control: RedisProcess) -> dict[str, str]:
    """A worker on the TLS cache under the prefix, with a plain broker of the test's own."""
    return {
        "WARMING_REDIS_URL": cache_url,
        "WARMING_KEY_PREFIX": PREFIX,
        "CELERY_BROKER_URL": broker.url(1),
        "CELERY_RESULT_BACKEND": broker.url(2),
        "CELERY_CONFIG_MODULE": CONFIG_MODULE,
        "WARMING_SOURCE": "fault_sources:Counting",
        "FAULTS_CONTROL_URL": control.url(0),
    }


@pytest.mark.timeout(90)
def test_warming_over_tls_with_a_user_limited_to_the_prefix(
    tls_cache: TlsCache, servers: ServerFactory, control: RedisProcess, procs: Processes,
    ctl: redis.Redis,
) -> None:  # fmt: skip
    """A preload and stats over TLS as an ACL user limited to the prefix's keys: every
    key is written under the prefix and nothing outside it, the suite connects as that
    user, and its password shows nowhere."""
    broker = servers("broker")
    ctl.hset(CONFIG_KEY, "keys", len(KEYS))
    env = worker_env(tls_cache.url(), broker, control)
    worker = procs.worker(env)
    done = cli("preload", "--json", env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["loaded"], summary["missing"], summary["failed"]) == (50, 0, 0)

    admin = tls_cache.server.client()  # the plain port, as the default user
    for key in KEYS:
        assert admin.get(f"{PREFIX}{key}") == value_for(key).encode()
    outside = [k for k in admin.scan_iter(count=1000) if not k.startswith(PREFIX.encode())]
    assert outside == [], "nothing written outside the user's keys"
    assert admin.llen(f"{PREFIX}{{warming}}:runs") == 1
    tls_clients = [c for c in admin.client_list() if c.get("user") == USER]
    assert tls_clients, "the suite talked to the cache as the ACL user"
    admin.close()

    done = cli("stats", "--json", env=env)
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["recent_runs"][0]["loaded"] == 50
    assert stats["cache"].startswith(tls_cache.masked())
    assert PASSWORD not in worker.log() + done.stdout + done.stderr


@pytest.mark.timeout(60)
def test_a_wrong_password_over_tls_fails_with_one_clear_line(
    tls_cache: TlsCache, servers: ServerFactory
) -> None:
    """``warming-tasks stats`` over TLS with a wrong password exits 1 with one line
    naming the masked URL and the refusal."""
    broker = servers("broker")
    env = {
        "WARMING_REDIS_URL": tls_cache.url(WRONG),
        "WARMING_KEY_PREFIX": PREFIX,
        "CELERY_BROKER_URL": broker.url(1),
        "CELERY_RESULT_BACKEND": broker.url(2),
    }
    done = cli("stats", env=env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        f"warming-tasks: cannot read the cache Redis at {tls_cache.masked()}"
    )
    assert "invalid username-password pair" in lines[0]
    assert WRONG not in done.stdout + done.stderr


@pytest.mark.timeout(60)
def test_a_user_without_the_prefix_is_refused_with_one_clear_line(
    tls_cache: TlsCache, servers: ServerFactory
) -> None:
    # The same user without WARMING_KEY_PREFIX: the suite's keys fall outside ~app:*.
    """The same ACL user without WARMING_KEY_PREFIX, so that the suite's own keys fall
    outside what it may touch: stats exits 1 with one line saying it has no permission."""
    broker = servers("broker")
    env = {
        "WARMING_REDIS_URL": tls_cache.url(),
        "CELERY_BROKER_URL": broker.url(1),
        "CELERY_RESULT_BACKEND": broker.url(2),
    }
    done = cli("stats", env=env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = warming_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        f"warming-tasks: cannot read the cache Redis at {tls_cache.masked()}"
    )
    assert "no permissions" in lines[0].lower()


@pytest.mark.timeout(90)
def test_a_worker_with_a_wrong_password_fails_the_run_promptly(
    tls_cache: TlsCache, servers: ServerFactory, control: RedisProcess, procs: Processes
) -> None:
    """A worker given a wrong password for the TLS cache: the CLI's preload fails within
    its timeout with one line naming the AuthenticationError, and the password shows
    nowhere."""
    broker = servers("broker")
    env = worker_env(tls_cache.url(WRONG), broker, control)
    worker = procs.worker(env)
    done = cli("preload", "--timeout", "12", env=env | {"WARMING_REDIS_URL": tls_cache.url()})
    assert WRONG not in worker.log() + done.stdout + done.stderr
    assert done.returncode == 1, done.stdout
    lines = warming_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("warming-tasks: the run failed: AuthenticationError"), lines[0]
