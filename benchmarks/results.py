"""Where every benchmark's figures are kept: one dated file per run, committed, so
each figure the README quotes has its run, its command and its machine behind it."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def _commit() -> str:
    """The checkout measured, marked ``+changes`` when it differs from its commit."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            # Tracked files only: the result files themselves are new until committed.
            ["git", "status", "--porcelain", "--untracked-files=no", "warming_tasks", "benchmarks"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}+changes" if dirty else head or "unknown"


def save(result: dict[str, Any], name: str, out: Path | None = None) -> Path:
    """Write ``result`` with its date, command, commit and the machine's CPU count to
    ``out``, or to ``results/<date>-<name>.json`` (``-2``, ``-3`` … for another run
    the same day). The path written."""
    now = dt.datetime.now(dt.UTC)
    module = sys.modules["__main__"].__spec__
    program = f"python -m {module.name.removesuffix('.__main__')}" if module else sys.argv[0]
    record = {
        "date": now.isoformat(timespec="seconds"),
        "command": " ".join([program, *sys.argv[1:]]),
        "commit": _commit(),
        "cpus": os.cpu_count(),
    } | result
    if out is None:
        RESULTS.mkdir(exist_ok=True)
        stem = f"{now:%Y-%m-%d}-{name}"
        out = RESULTS / f"{stem}.json"
        n = 1
        while out.exists():
            n += 1
            out = RESULTS / f"{stem}-{n}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    return out
