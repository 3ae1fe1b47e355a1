"""Peak RSS of a process that dispatches a preload of N hot keys from a generator.

    python -m benchmarks.dispatch_memory   (run by the harness with its env set)

It runs the preload entry task in this process (``apply``); the batch messages go
to a broker database no worker reads, which the harness empties afterwards. It
prints one JSON line: the batches sent and the peak RSS in KiB.
"""

from __future__ import annotations

import json
from pathlib import Path

from celery.exceptions import Ignore


def _peak_rss_kib() -> int:
    # VmHWM is this program's own high-water mark. ru_maxrss is not: Linux keeps
    # it across exec, so it would report the (larger) parent that started us.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    import warming_tasks.tasks  # noqa: F401, PLC0415 - registers the tasks with the app; the tasks register with the app the harness configured by env
    from warming_tasks.app import app  # noqa: PLC0415 - imported after the tasks, as a worker does

    task = app.tasks["warming_tasks.preload"]
    result = task.apply()
    if result.failed() and not isinstance(result.result, Ignore):
        raise SystemExit(f"dispatch failed: {result.result!r}")
    peak_kib = _peak_rss_kib()
    print(json.dumps({"peak_rss_kib": peak_kib, "state": result.state}))


if __name__ == "__main__":
    main()
