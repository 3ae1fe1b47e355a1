"""The example alert rules (docker/prometheus/alerts.yml) against their unit tests
(alerts_test.yml beside them), run by promtool, Prometheus' own rule evaluator:
each rule fires on the series it must fire on, at the evaluation its ``for:``
allows, with its labels and annotations, and stays silent on the others.

promtool comes with Debian's ``prometheus`` package, which ``.ci/run`` installs.
Elsewhere these tests skip without it; under CI they fail, so that a machine
without it cannot pass the rules off as tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROMETHEUS = Path(__file__).resolve().parent.parent / "docker" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "alerts_test.yml"
CONFIG = PROMETHEUS / "prometheus.yml"
# `test rules` takes about 2 s; one that hangs should say so before the suite's timeout.
PROMTOOL_TIMEOUT_S = 60


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        why = "promtool is not installed here (Debian: apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(f"{why}: CI installs it and must run the rules' tests")
        pytest.skip(why)
    return found


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name} is not a mapping"
    return data


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["check", "rules", RULES], id="check-rules"),
        # The file compose mounts, with the rules it loads.
        pytest.param(["check", "config", CONFIG], id="check-config"),
        pytest.param(["test", "rules", RULE_TESTS], id="test-rules"),
    ],
)
def test_promtool_passes(args: list[str | Path]) -> None:
    done = subprocess.run(
        [promtool(), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, (
        f"promtool {' '.join(map(str, args[:2]))}:\n{done.stdout}{done.stderr}"
    )


def test_every_rule_has_a_case_that_fires_it_and_one_that_does_not() -> None:
    """promtool only runs the cases there are: a rule added without its own would
    pass untested."""
    tests = load(RULE_TESTS)
    assert [PROMETHEUS / name for name in tests["rule_files"]] == [RULES]
    names = [rule["alert"] for group in load(RULES)["groups"] for rule in group["rules"]]
    fired: set[str] = set()
    silent: set[str] = set()
    for group in tests["tests"]:
        for case in group.get("alert_rule_test", []):
            (fired if case.get("exp_alerts") else silent).add(case["alertname"])
    assert sorted(set(names) - fired) == [], "rules no case fires"
    assert sorted(set(names) - silent) == [], "rules no case expects silent"
    assert sorted((fired | silent) - set(names)) == [], "cases of rules that do not exist"
