"""docker/Dockerfile and docker/compose.yaml, checked by parsing them.

No Docker engine runs these tests: they hold the files to the public contract
(the documented commands, env vars and settings) so that neither can drift.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from warming_tasks.cli import cli
from warming_tasks.errors import SettingsError
from warming_tasks.settings import ENV_PREFIX, Settings, load_settings
from warming_tasks.source import load_source

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"

CELERY_SUBCOMMANDS = {"worker", "beat", "flower", "inspect"}
CELERY_VARS = {"CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"}
APP_SERVICES = ("worker", "beat", "flower")
SAMPLE_SOURCE = "warming_tasks.sample:SampleSource"
# ${NAME}, ${NAME-default} or ${NAME:-default}; other forms (:?, :+) are not used here.
INTERPOLATION = re.compile(r"^\$\{(?P<name>\w+)(?:(?P<op>:?-)(?P<default>[^}]*))?\}$")
ANY_INTERPOLATION = re.compile(r"\$\{(\w+)")


@pytest.fixture(autouse=True)
def _no_warming_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings are validated from the compose values alone, not this process's env."""
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)


# --- parsing helpers ---------------------------------------------------------


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict), "compose.yaml is not a mapping"
    return data


def services() -> dict[str, dict[str, Any]]:
    found = compose().get("services")
    assert isinstance(found, dict), "compose.yaml has no services"
    return found


def argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def healthcheck_argv(test: str | list[str]) -> list[str]:
    """The command a healthcheck runs, from its CMD, CMD-SHELL or plain-string form."""
    if isinstance(test, str):
        return shlex.split(test)
    kind, *rest = test
    if kind == "CMD-SHELL":
        return shlex.split(" ".join(rest))
    assert kind == "CMD", f"unexpected healthcheck form {test!r}"
    return rest


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def all_environment() -> list[tuple[str, str, str]]:
    """(service, var, value) for every environment entry of every service."""
    return [(name, k, v) for name, svc in services().items() for k, v in environment(svc).items()]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def dockerfile_cmd() -> list[str]:
    cmds = [args for word, args in dockerfile_instructions() if word == "CMD"]
    assert cmds, "the Dockerfile has no CMD"
    parsed = json.loads(cmds[-1])  # exec form, so signals reach celery directly
    assert isinstance(parsed, list)
    return [str(p) for p in parsed]


def documented_in_comments(path: Path) -> list[list[str]]:
    """Example commands given in a file's comments (`#   celery …`, `#   warming-tasks …`)."""
    found = []
    for line in path.read_text().splitlines():
        text = line.strip().removeprefix("#").strip()
        if line.strip().startswith("#") and re.match(r"(celery|warming-tasks) ", text):
            found.append(shlex.split(text))
    return found


def every_command() -> list[tuple[str, list[str]]]:
    """(where, argv) for every command the two files run or document."""
    found = [("Dockerfile CMD", dockerfile_cmd())]
    for name, svc in services().items():
        if "command" in svc:
            found.append((f"{name}.command", argv(svc["command"])))
        test = (svc.get("healthcheck") or {}).get("test")
        if test:
            found.append((f"{name}.healthcheck", healthcheck_argv(test)))
    for path in (DOCKERFILE, COMPOSE):
        found += [(f"{path.name} comment", cmd) for cmd in documented_in_comments(path)]
    return found


def check_celery(where: str, cmd: list[str]) -> None:
    assert cmd[1:3] == ["-A", "warming_tasks"], f"{where}: {cmd} does not use -A warming_tasks"
    assert len(cmd) > 3, f"{where}: {cmd} has no subcommand"
    assert cmd[3] in CELERY_SUBCOMMANDS, f"{where}: unknown celery subcommand {cmd[3]!r}"


def default_of(var: str, value: str) -> str | None:
    """The value compose would use when ``var`` is unset; None when there is none."""
    match = INTERPOLATION.match(value)
    if match is None:
        assert "${" not in value, f"{var}: unsupported interpolation {value!r}"
        return value
    assert match["name"] == var, f"{var} is read from another variable, {match['name']}"
    return match["default"] if match["op"] else None


# --- the commands ------------------------------------------------------------


def test_commands_are_documented_ones() -> None:
    commands = every_command()
    programs = {cmd[0] for _, cmd in commands}
    assert "celery" in programs
    for where, cmd in commands:
        assert cmd, f"{where}: empty command"
        if cmd[0] == "celery":
            check_celery(where, cmd)
        elif cmd[0] == "warming-tasks":
            assert len(cmd) > 1, f"{where}: warming-tasks without a subcommand"
            assert cmd[1] in cli.commands, f"{where}: no such CLI command {cmd[1]!r}"
        else:
            assert cmd[0] in {"redis-cli"}, f"{where}: undocumented program {cmd[0]!r}"


def test_services_run_their_celery_role() -> None:
    found = services()
    for role in APP_SERVICES:
        cmd = argv(found[role]["command"])
        assert cmd[:4] == ["celery", "-A", "warming_tasks", role], f"{role}: {cmd}"


def test_flower_is_published_on_5555() -> None:
    flower = services()["flower"]
    assert "--port=5555" in argv(flower["command"])
    assert any(str(p).endswith(":5555") for p in flower.get("ports", [])), flower.get("ports")


# --- services, health and start order ------------------------------------------


def test_services_exist() -> None:
    assert {"redis", *APP_SERVICES} <= set(services())


def test_redis_is_the_official_image_with_a_ping_healthcheck() -> None:
    redis = services()["redis"]
    assert str(redis["image"]).split(":")[0] in {"redis", "docker.io/library/redis"}
    assert str(redis["image"]).partition(":")[2].startswith("7")
    assert healthcheck_argv(redis["healthcheck"]["test"]) == ["redis-cli", "ping"]


def test_worker_healthcheck_pings_the_worker() -> None:
    cmd = healthcheck_argv(services()["worker"]["healthcheck"]["test"])
    assert cmd[:5] == ["celery", "-A", "warming_tasks", "inspect", "ping"], cmd


def test_app_services_wait_for_a_healthy_redis() -> None:
    for role in APP_SERVICES:
        depends = services()[role].get("depends_on")
        assert isinstance(depends, dict), f"{role}: depends_on needs the long form"
        assert depends["redis"]["condition"] == "service_healthy", role


def test_app_services_build_this_repo() -> None:
    for role in APP_SERVICES:
        build = services()[role]["build"]
        context = (COMPOSE.parent / build["context"]).resolve()
        assert context == ROOT, f"{role}: build context {context} is not the repo root"
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE


# --- configuration: only the documented env vars -------------------------------


def test_only_documented_variables() -> None:
    entries = all_environment()
    assert entries, "compose.yaml passes no environment at all"
    for service, var, _ in entries:
        assert var.startswith(ENV_PREFIX) or var in CELERY_VARS, f"{service}: {var}"
    # Interpolated from the host too: the user configures only documented names.
    for name in ANY_INTERPOLATION.findall(COMPOSE.read_text()):
        assert name.startswith(ENV_PREFIX) or name in CELERY_VARS, f"${{{name}}}"


def test_warming_variables_are_settings_with_valid_values() -> None:
    checked = 0
    for service, var, value in all_environment():
        if not var.startswith(ENV_PREFIX):
            continue
        field = var.removeprefix(ENV_PREFIX).lower()
        assert field in Settings.model_fields, f"{service}: {var} is not a setting"
        default = default_of(var, value)
        if default is None:
            continue
        try:
            load_settings(**{field: default})
        except SettingsError as exc:
            pytest.fail(f"{service}: {var}={default!r} is rejected: {exc}")
        checked += 1
    assert checked, "no WARMING_* value was checked"


def test_every_app_service_has_the_same_core_settings() -> None:
    for role in APP_SERVICES:
        env = environment(services()[role])
        for var in ("WARMING_REDIS_URL", "WARMING_SOURCE", *sorted(CELERY_VARS)):
            assert var in env, f"{role} does not set {var}"


def test_default_source_is_the_sample_and_loads() -> None:
    env = environment(services()["worker"])
    source = default_of("WARMING_SOURCE", env["WARMING_SOURCE"])
    assert source == SAMPLE_SOURCE
    assert callable(getattr(load_source(source), "hot_keys", None))


def test_default_urls_point_at_the_redis_service() -> None:
    env = environment(services()["worker"])
    for var in ("WARMING_REDIS_URL", *sorted(CELERY_VARS)):
        url = default_of(var, env[var])
        assert url is not None, f"{var} has no default"
        parts = urlsplit(url)
        assert parts.scheme == "redis", f"{var}={url}"
        assert parts.hostname in services(), f"{var}={url} names no compose service"


# --- the Dockerfile --------------------------------------------------------------


def test_dockerfile_base_is_python_311_slim() -> None:
    froms = [args for word, args in dockerfile_instructions() if word == "FROM"]
    assert froms, "the Dockerfile has no FROM"
    assert froms[0].split()[0] == "python:3.11-slim", froms


def test_dockerfile_installs_the_package_and_flower() -> None:
    steps = dockerfile_instructions()
    copied = " ".join(args for word, args in steps if word == "COPY")
    for needed in ("pyproject.toml", "warming_tasks"):
        assert needed in copied, f"the Dockerfile does not copy {needed}"
    for source in (tok for word, args in steps if word == "COPY" for tok in args.split()[:-1]):
        if not source.startswith("--"):
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repo"
    installs = [shlex.split(args) for word, args in steps if word == "RUN" and "pip" in args]
    tokens = [tok for cmd in installs for tok in cmd]
    assert "install" in tokens
    assert "." in tokens, "pip install does not install the package from the repo"
    assert any(tok.startswith("flower") for tok in tokens), "flower is not installed"


def test_dockerfile_runs_as_a_non_root_user() -> None:
    steps = dockerfile_instructions()
    words = [word for word, _ in steps]
    users = [args for word, args in steps if word == "USER"]
    assert users, "the Dockerfile has no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}, users[-1]
    last_user = len(words) - 1 - words[::-1].index("USER")
    assert last_user < words.index("CMD"), "USER must come before CMD"


def test_dockerfile_default_command_is_the_worker() -> None:
    cmd = dockerfile_cmd()
    check_celery("Dockerfile CMD", cmd)
    assert cmd[3] == "worker"
    # Compose gives full commands; an ENTRYPOINT would be prefixed to them.
    assert "ENTRYPOINT" not in {word for word, _ in dockerfile_instructions()}


def test_dockerfile_bakes_in_no_configuration_or_secrets() -> None:
    for word, args in dockerfile_instructions():
        if word in {"ENV", "ARG"}:
            assert not re.search(r"WARMING_|CELERY_|PASSWORD|SECRET|TOKEN", args), args
        assert not re.search(r"://[^/\s]*:[^/\s]*@", args), f"credentials in {word} {args}"
