"""Peak RSS of a process that dispatches a preload of N hot keys from a generator.

    python -m benchmarks.dispatch_memory   (run by the harness with its env set)

It runs the preload entry task in this process (``apply``); the batch messages go
to a broker database no worker reads, which the harness empties afterwards. It
prints one JSON line: the batches sent and the peak RSS in KiB.
"""

from __future__ import annotations

import json
import resource

from celery.exceptions import Ignore


def main() -> None:
    import warming_tasks.tasks  # noqa: F401 - registers the tasks with the app
    from warming_tasks.app import app

    task = app.tasks["warming_tasks.preload"]
    result = task.apply()
    if result.failed() and not isinstance(result.result, Ignore):
        raise SystemExit(f"dispatch failed: {result.result!r}")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_kib": peak_kib, "state": result.state}))


if __name__ == "__main__":
    main()
