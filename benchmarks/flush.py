"""The tracker's flush of 100,000 distinct keys: with ``WARMING_DECAY_HALF_LIFE=auto``
(the frequency set, the candidates' sample sets and their evidence) against one
fixed half-life (the frequency set alone). Each flush starts from an empty
database; the side that goes first alternates from one repetition to the next.

    python -m benchmarks.flush               # 10 repetitions
    python -m benchmarks.flush --repeat 20

Prints medians (min-max) of both and of their ratio, paired within a repetition,
and stores them in benchmarks/results/<date>-flush.json.
"""

from __future__ import annotations

import argparse
import sys

from warming_tasks.cli.embedded import RedisProcess

from .figures import spread
from .results import save
from .workloads import flush_seconds

TARGET = 1.3


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flush", description=__doc__)
    parser.add_argument("--repeat", type=int, default=10, help="even: each side first as often")
    parser.add_argument("--keys", type=int, default=100_000)
    args = parser.parse_args()
    fixed: list[float] = []
    auto: list[float] = []
    with RedisProcess() as server:
        # Warm-up, both alike: scripts loaded, the allocator grown.
        flush_seconds(server, args.keys, half_life=3600.0)
        flush_seconds(server, args.keys)
        for rep in range(args.repeat):
            if rep % 2:
                auto.append(flush_seconds(server, args.keys))
                fixed.append(flush_seconds(server, args.keys, half_life=3600.0))
            else:
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
    print(f"written to {save(result, 'flush')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
