"""Replacement workers and a large global: ``Pool(2, maxtasksperchild=1)`` over 100 tasks
on real 3.14 (default start method, forkserver), the guarded script holding an 8 MB bytes
global and a 200,000-item list; spawnfix sends the parent's values to every worker
(written for fork, the method not chosen). With spawnfix vs ``SPAWNFIX=0``, interleaved.

Usage: python bench/maxtasks_big_global.py [--runs N] [--python 3.14]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import (
    environments,
    interleaved,
    machine_description,
    median_ms,
    print_medians,
    time_command,
)

SCRIPT = Path(__file__).resolve().parent / "scripts" / "maxtasks_big_global.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", default="3.14")
    args = parser.parse_args()
    env = environments([], args.python)["with"]
    variants = {
        "SPAWNFIX=0": lambda: time_command([env.python, str(SCRIPT)], SPAWNFIX="0"),
        "spawnfix": lambda: time_command([env.python, str(SCRIPT)]),
    }
    samples = interleaved(variants, args.runs)
    print(machine_description())
    print_medians({name: median_ms(s) for name, s in samples.items()}, "SPAWNFIX=0", "ratio")


if __name__ == "__main__":
    main()
