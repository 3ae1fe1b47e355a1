"""The tracker's flush of 100,000 distinct keys: with ``WARMING_DECAY_HALF_LIFE=auto``
(the frequency set, the candidates' sample sets and their evidence) against one
fixed half-life (the frequency set alone), interleaved in one run.

    python -m benchmarks.flush               # 9 repetitions
    python -m benchmarks.flush --repeat 21

Prints medians (min-max) of both and of their ratio, paired within a repetition,
and writes benchmarks/results/flush.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from warming_tasks.cli.embedded import RedisProcess

from .figures import spread
from .workloads import flush_seconds

OUTPUT = Path(__file__).parent / "results" / "flush.json"
TARGET = 1.3


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flush", description=__doc__)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--keys", type=int, default=100_000)
    args = parser.parse_args()
    fixed: list[float] = []
    auto: list[float] = []
    with RedisProcess() as server:
        flush_seconds(server, args.keys)  # warm-up: scripts loaded, allocator grown
        for _ in range(args.repeat):
            fixed.append(flush_seconds(server, args.keys, half_life=3600.0))
            auto.append(flush_seconds(server, args.keys))
    figures = {
        "fixed_s": spread(fixed),
        "auto_s": spread(auto),
        "flush_auto_vs_fixed": spread([a / f for a, f in zip(auto, fixed, strict=True)]),
    }
    for name, s in figures.items():
        print(f"{name:22} {s['median']:.3f} ({s['min']:.3f}-{s['max']:.3f})")
    result = {"keys": args.keys, "repeat": args.repeat, "target": f"<= {TARGET}", **figures}
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
