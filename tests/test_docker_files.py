"""docker/: the Dockerfile, compose.yaml and the Prometheus and Grafana files,
checked by parsing them.

No Docker engine runs these tests: they hold the files to the public contract
(the documented commands, env vars and settings, the series the exporter really
serves) so that neither can drift.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from warming_tasks.cli import cli
from warming_tasks.constants import METRICS_PORT
from warming_tasks.errors import SettingsError
from warming_tasks.settings import ENV_PREFIX, Settings, load_settings
from warming_tasks.source import load_source

from .helpers import Stack
from .test_operations import exporter

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
PROMETHEUS_YML = DOCKER / "prometheus" / "prometheus.yml"
ALERTS_YML = DOCKER / "prometheus" / "alerts.yml"
GRAFANA = DOCKER / "grafana"
DATASOURCES_YML = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARDS_YML = GRAFANA / "provisioning" / "dashboards" / "warming-tasks.yml"
DASHBOARD = GRAFANA / "dashboards" / "warming-tasks.json"

CELERY_SUBCOMMANDS = {"worker", "beat", "flower", "inspect"}
CELERY_VARS = {"CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"}
CELERY_SERVICES = ("worker", "beat", "flower")
# Every service built from this repo: one image, the same settings.
APP_SERVICES = (*CELERY_SERVICES, "metrics")
# The others: official images, pinned, and the only env vars each may take.
THIRD_PARTY_IMAGES = {
    "redis": {"redis", "docker.io/library/redis"},
    "prometheus": {"prom/prometheus", "docker.io/prom/prometheus"},
    "grafana": {"grafana/grafana", "docker.io/grafana/grafana"},
}
THIRD_PARTY_ENV_PREFIX = {"grafana": "GF_"}
PROMETHEUS_PORT = 9090
GRAFANA_PORT = 3000
# A metric name in PromQL, whole: a longer or misspelled name is not cut down to a real one.
METRIC_NAME = re.compile(r"(?<![\w:])warming_[A-Za-z0-9_:]*")
COUNTER_NAME = re.compile(r"(?<![\w:])warming_[A-Za-z0-9_:]*_total\b")
DURATION = re.compile(r"^(\d+(ms|[smhdwy]))+$")
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


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.relative_to(ROOT)} is not a mapping"
    return data


def published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of every published port."""
    found = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            found.append(
                (str(entry.get("host_ip", "")), int(entry["published"]), int(entry["target"]))
            )
            continue
        *host, container = str(entry).split("/")[0].split(":")
        address = host[0] if len(host) == 2 else ""
        found.append((address, int(host[-1] if host else container), int(container)))
    return found


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, PurePosixPath]]:
    """(path in the repo, path in the container) of every bind mount; named volumes left out."""
    found = []
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            if entry.get("type") != "bind":
                continue
            source, target = str(entry["source"]), str(entry["target"])
        else:
            source, target, *_ = str(entry).split(":")
            if not source.startswith((".", "/")):
                continue
        found.append(((COMPOSE.parent / source).resolve(), PurePosixPath(target)))
    return found


def host_path(service: str, inside: str | PurePosixPath) -> Path:
    """The repo file a service sees at ``inside``, through its bind mounts."""
    inside = PurePosixPath(inside)
    for source, target in bind_mounts(services()[service]):
        if inside == target or target in inside.parents:
            return source.joinpath(*inside.relative_to(target).parts)
    pytest.fail(f"{service}: nothing in the repo is mounted at {inside}")


def alert_rules() -> list[dict[str, Any]]:
    groups = load_yaml(ALERTS_YML).get("groups")
    assert isinstance(groups, list), "alerts.yml has no groups"
    assert groups, "alerts.yml has no groups"
    rules = []
    for group in groups:
        assert group.get("name"), f"a rule group without a name: {group}"
        assert group.get("rules"), f"group {group['name']} has no rules"
        rules += group["rules"]
    return rules


def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict), "the dashboard is not a JSON object"
    return data


def dashboard_panels() -> list[dict[str, Any]]:
    """Every panel, rows' collapsed panels included; rows themselves left out."""
    found: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        found += [panel] if panel.get("type") != "row" else panel.get("panels", [])
    return found


def dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, expr) of every query: the panels' targets and the template variables."""
    found = [
        (str(panel["title"]), str(target["expr"]))
        for panel in dashboard_panels()
        for target in panel["targets"]
    ]
    for var in dashboard().get("templating", {}).get("list", []):
        query = var.get("query")
        if var.get("type") == "query" and query:
            text = query["query"] if isinstance(query, dict) else query
            found.append((f"variable {var.get('name')}", str(text)))
    return found


def every_expr() -> list[tuple[str, str]]:
    """(where, PromQL) of every alert rule and every dashboard query."""
    rules = [(f"alert {rule['alert']}", str(rule["expr"])) for rule in alert_rules()]
    return rules + [(f"panel {title!r}", expr) for title, expr in dashboard_exprs()]


def metric_names(expr: str) -> set[str]:
    return set(METRIC_NAME.findall(expr))


def unknown_metrics(exprs: list[tuple[str, str]], served: set[str]) -> dict[str, set[str]]:
    """Where each expr names a series the exporter does not serve: {where: names}."""
    return {where: missing for where, expr in exprs if (missing := metric_names(expr) - served)}


def served_names(body: str) -> set[str]:
    """The series names a Prometheus scraping ``body`` stores, from prometheus_client's
    parser: every sample's name, and for a family without samples in this scrape the
    name its samples take (a counter's carry ``_total``; the bare family name of a
    counter is no series at all)."""
    names = set()
    for family in text_string_to_metric_families(body):
        names |= {sample.name for sample in family.samples}
        names.add(f"{family.name}_total" if family.type == "counter" else family.name)
    return names


def check_promql_shape(where: str, expr: str) -> None:
    """Brackets balanced and quotes closed (no PromQL parser here; Prometheus and
    Grafana reject what fails this at load time, or show a broken panel)."""
    assert expr.strip(), f"{where}: empty expr"
    closing = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    quote = None
    for char in expr:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'`":
            quote = char
        elif char in "([{":
            stack.append(char)
        elif char in closing:
            assert stack, f"{where}: unbalanced {char!r}: {expr}"
            assert stack.pop() == closing[char], f"{where}: unbalanced {char!r}: {expr}"
    assert quote is None, f"{where}: unclosed {quote}: {expr}"
    assert not stack, f"{where}: unclosed {stack[-1]!r}: {expr}"


def duration_s(text: str) -> float:
    assert DURATION.match(text), f"not a Prometheus duration: {text!r}"
    unit_s = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(int(n) * unit_s[u] for n, u in re.findall(r"(\d+)(ms|[smhdwy])", text))


def squeezed(expr: str) -> str:
    return re.sub(r"\s+", "", expr)


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
    for role in CELERY_SERVICES:
        cmd = argv(found[role]["command"])
        assert cmd[:4] == ["celery", "-A", "warming_tasks", role], f"{role}: {cmd}"


def test_metrics_runs_the_exporter_on_its_default_port_on_loopback() -> None:
    metrics = services()["metrics"]
    assert argv(metrics["command"]) == ["warming-tasks", "metrics"]
    assert published(metrics) == [("127.0.0.1", METRICS_PORT, METRICS_PORT)]


def test_beat_and_metrics_are_health_checked_by_check() -> None:
    for role in ("beat", "metrics"):
        check = services()[role].get("healthcheck")
        assert check, f"{role} has no healthcheck"
        assert healthcheck_argv(check["test"]) == ["warming-tasks", "check"], role
        for key in ("interval", "timeout", "start_period"):
            assert duration_s(str(check[key])) > 0, f"{role}: healthcheck {key}"
        # A check reaches three servers with timeouts of its own: give it the time.
        assert duration_s(str(check["timeout"])) >= 10, f"{role}: healthcheck timeout"


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
        if service in THIRD_PARTY_IMAGES:
            prefix = THIRD_PARTY_ENV_PREFIX.get(service)
            assert prefix, f"{service} takes no environment: {var}"
            assert var.startswith(prefix), f"{service}: {var}"
            continue
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


# --- Prometheus and Grafana --------------------------------------------------------


def test_third_party_services_are_pinned_official_images_on_loopback() -> None:
    expected_ports = {"prometheus": PROMETHEUS_PORT, "grafana": GRAFANA_PORT}
    for name, images in THIRD_PARTY_IMAGES.items():
        image, _, tag = str(services()[name]["image"]).partition(":")
        assert image in images, f"{name}: {image}"
        assert tag, f"{name}: pin a version, not no tag"
        assert tag != "latest", f"{name}: pin a version, not latest"
        if name in expected_ports:
            port = expected_ports[name]
            assert published(services()[name]) == [("127.0.0.1", port, port)], name


def test_every_mounted_file_is_in_the_repo() -> None:
    mounted = 0
    for name, service in services().items():
        for source, target in bind_mounts(service):
            assert source.exists(), f"{name}: mounts {source} at {target}, which does not exist"
            mounted += 1
    assert mounted, "compose mounts no Prometheus or Grafana configuration"


def test_prometheus_scrapes_the_exporter_service_on_its_default_port() -> None:
    config = load_yaml(host_path("prometheus", "/etc/prometheus/prometheus.yml"))
    assert config == load_yaml(PROMETHEUS_YML)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    job = jobs["warming-tasks"]
    targets = [t for static in job["static_configs"] for t in static["targets"]]
    assert targets == [f"metrics:{METRICS_PORT}"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    for key in ("scrape_interval", "evaluation_interval"):
        assert duration_s(str(config["global"][key])) > 0, key


def test_prometheus_loads_the_alert_rules_it_is_given() -> None:
    config = load_yaml(PROMETHEUS_YML)
    rule_files = config.get("rule_files")
    assert rule_files, "prometheus.yml loads no rule files"
    here = PurePosixPath("/etc/prometheus")
    loaded = [host_path("prometheus", here / str(name)) for name in rule_files]
    assert ALERTS_YML.resolve() in [path.resolve() for path in loaded]


def test_alert_rules_are_complete() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), f"duplicate alert names: {names}"
    for rule in rules:
        where = f"alert {rule['alert']}"
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, where
        check_promql_shape(where, str(rule["expr"]))
        if "for" in rule:
            duration_s(str(rule["for"]))
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, where
        assert rule["annotations"]["summary"], f"{where} has no summary"
        # A counter's raw value says nothing: alert on how it moves.
        for counter in COUNTER_NAME.findall(str(rule["expr"])):
            assert re.search(
                rf"(rate|increase|irate|delta)\(\s*{counter}", squeezed(str(rule["expr"]))
            ), f"{where}: {counter} outside rate() or increase()"


def test_the_issue_s_alert_is_one_rule() -> None:
    """Refresh has not finished for 10 minutes: one rule on the last-finished time."""
    exprs = [squeezed(str(rule["expr"])) for rule in alert_rules()]
    wanted = 'time()-warming_last_run_finished_timestamp_seconds{kind="refresh"}>600'
    assert any(expr.startswith(wanted) for expr in exprs), exprs


def test_grafana_provisions_the_prometheus_datasource_and_the_dashboard() -> None:
    datasources = load_yaml(
        host_path("grafana", "/etc/grafana/provisioning/datasources/prometheus.yml")
    )["datasources"]
    assert load_yaml(DATASOURCES_YML)["datasources"] == datasources
    (source,) = datasources
    assert source["type"] == "prometheus"
    assert urlsplit(source["url"]) == urlsplit(f"http://prometheus:{PROMETHEUS_PORT}")

    (provider,) = load_yaml(
        host_path("grafana", "/etc/grafana/provisioning/dashboards/warming-tasks.yml")
    )["providers"]
    assert load_yaml(DASHBOARDS_YML)["providers"] == [provider]
    folder = host_path("grafana", provider["options"]["path"])
    assert DASHBOARD.resolve() in [p.resolve() for p in folder.glob("*.json")]

    env = environment(services()["grafana"])
    home = env.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        assert host_path("grafana", home).resolve() == DASHBOARD.resolve()

    # Every panel's query goes to that datasource, by the uid it is provisioned with.
    uids = {
        str(panel["datasource"]["uid"])
        for panel in dashboard_panels()
        if isinstance(panel.get("datasource"), dict)
    } | {
        str(target["datasource"]["uid"])
        for panel in dashboard_panels()
        for target in panel["targets"]
        if isinstance(target.get("datasource"), dict)
    }
    assert uids == {source["uid"]}, uids


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    board = dashboard()
    assert board.get("uid"), "the dashboard needs a uid"
    assert board.get("title"), "the dashboard needs a title"
    exprs = [squeezed(expr) for _, expr in dashboard_exprs()]
    for where, expr in dashboard_exprs():
        check_promql_shape(where, expr)
    wanted = {
        "keys warmed per strategy": "rate(warming_keys_warmed_total",
        "run durations": "warming_run_duration_seconds",
        "last-success age": "time()-warming_last_success_timestamp_seconds",
        "read-before-expiry share": "warming_read_before_expiry_ratio",
        "hit ratio": "warming_cache_hit_ratio",
    }
    for what, needle in wanted.items():
        assert any(needle in expr for expr in exprs), f"no panel shows {what} ({needle})"
    rows = [panel for panel in board["panels"] if panel.get("type") == "row"]
    ids = [panel["id"] for panel in [*rows, *dashboard_panels()]]
    assert len(ids) == len(set(ids)), f"panel ids repeat: {sorted(ids)}"


@pytest.mark.integration
def test_every_series_a_rule_or_panel_names_is_served(stack: Stack) -> None:
    """A real scrape of ``warming-tasks metrics`` has every warming_* name that the
    alert rules and the dashboard query (a typo there is a silent panel)."""
    with exporter(stack.env()) as url, urllib.request.urlopen(url, timeout=5) as reply:
        body = reply.read().decode()
    served = served_names(body)
    assert "warming_keys_warmed_total" in served, sorted(served)
    exprs = every_expr()
    named = set().union(*(metric_names(expr) for _, expr in exprs))
    assert named, "the rules and panels name no warming series"
    assert unknown_metrics(exprs, served) == {}
    # And the other way round: every series the exporter serves is on the dashboard
    # or in a rule, so nothing it offers goes unseen.
    assert served - named == set()
