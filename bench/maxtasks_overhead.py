"""What spawnfix costs when a Pool's worker-handler thread starts the children.

``Pool(2, maxtasksperchild=1)`` over 12 items: every task gets a fresh spawn worker,
started from the pool's worker-handler thread, so each of the 12 launches finds the spawn
site on the main thread's stack. The script unguarded, under spawnfix, vs its hand-guarded
twin without spawnfix (goal at most 1.05x, must stay under 1.10x); the guarded twin with
spawnfix is measured alongside.

Usage: python bench/maxtasks_overhead.py [--runs N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from guarded_twin import compare_with_guarded_twin

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    compare_with_guarded_twin(SCRIPTS / "maxtasks_unguarded.py", args.runs)


if __name__ == "__main__":
    main()
