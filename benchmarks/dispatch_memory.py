"""Peak RSS of a process that dispatches a preload of N hot keys from a generator.

    python -m benchmarks.dispatch_memory   (run by the harness with its env set)

It runs the preload entry task in this process (``apply``); the batch messages go
to a broker database no worker reads, which the harness empties afterwards. It
prints one JSON line: the peak RSS in KiB and how far the peak rose above the RSS
the process had once everything was imported (the dispatch's own memory: the
~70 MB of imports would hide a leak of one object per batch in a ratio of peaks).
"""

from __future__ import annotations

import json
from pathlib import Path

from celery.exceptions import Ignore


def _status_kib(field: str) -> int:
    # VmHWM is this program's own high-water mark. ru_maxrss is not: Linux keeps
    # it across exec, so it would report the (larger) parent that started us.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    import warming_tasks.tasks  # noqa: F401, PLC0415 - registers the tasks with the app; the tasks register with the app the harness configured by env
    from warming_tasks.app import app  # noqa: PLC0415 - imported after the tasks, as a worker does

    task = app.tasks["warming_tasks.preload"]
    imported_kib = _status_kib("VmRSS")
    result = task.apply()
    if result.failed() and not isinstance(result.result, Ignore):
        raise SystemExit(f"dispatch failed: {result.result!r}")
    peak_kib = _status_kib("VmHWM")
    above = peak_kib - imported_kib
    print(json.dumps({"peak_rss_kib": peak_kib, "above_import_kib": above, "state": result.state}))


if __name__ == "__main__":
    main()
