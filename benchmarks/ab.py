"""Preload and refresh throughput of this checkout against another, in one run.

    python -m benchmarks.ab --before ../old-checkout            # 200,000 keys, 5 rounds
    python -m benchmarks.ab --before ../old-checkout --keys 1000000 --repeat 3

One redis-server of its own; a worker (-c 2) from each checkout, on brokers of
their own, both up throughout; each round runs the same preload and refresh on
one, then the other (the order alternates), so the machine's drift hits both
alike. It prints medians (min-max) of keys/s and of the after/before ratios
paired within a round, and writes benchmarks/results/ab.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from warming_tasks.cli.embedded import RedisProcess

from . import workloads as w
from .figures import spread
from .workers import ROOT, worker

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout's root")
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    before = args.before.resolve()
    if not (before / "warming_tasks").is_dir():
        raise SystemExit(f"--before={before} is not a warming-tasks checkout")
    n = args.keys
    figures: dict[str, list[float]] = defaultdict(list)
    with (
        tempfile.TemporaryDirectory(prefix="warming-ab-") as tmp,
        RedisProcess(data_dir=Path(tmp) / "redis") as server,
        worker(server, Path(tmp), broker_db=1, root=before) as old,
        worker(server, Path(tmp), broker_db=3, root=ROOT) as new,
    ):
        client = server.client(0)
        sides = {"before": old, "after": new}
        for app in sides.values():
            w.preload(app, client, min(n, 10_000))  # warm-up: imports, connections, scripts
        for rep in range(args.repeat):
            print(f"round {rep + 1}/{args.repeat} …", file=sys.stderr, flush=True)
            order = list(sides) if rep % 2 == 0 else list(reversed(sides))
            for side in order:
                client.flushdb()
                figures[f"{side}_preload_keys_per_s"].append(
                    n / w.preload(sides[side], client, n)[0]
                )
                w.prepare_refresh(client, n)
                figures[f"{side}_refresh_keys_per_s"].append(
                    n / w.refresh(sides[side], client, n)[0]
                )
    result = {
        "keys": n,
        "repeat": args.repeat,
        "before": str(before),
        "figures": {k: spread(v) for k, v in figures.items()},
        "ratios": {
            f"{name}_after_vs_before": spread(
                [
                    a / b
                    for a, b in zip(
                        figures[f"after_{name}"], figures[f"before_{name}"], strict=True
                    )
                ]
            )
            for name in ("preload_keys_per_s", "refresh_keys_per_s")
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ab.json").write_text(json.dumps(result, indent=2))
    for section in ("figures", "ratios"):
        for name, s in result[section].items():
            print(f"{name:40} {s['median']:12,.2f}  ({s['min']:,.2f}-{s['max']:,.2f})")


if __name__ == "__main__":
    main()
