"""What spawnfix costs around a small spawn Pool.

1. A guarded script that starts Pool(4) and maps a trivial function, in an environment
   with spawnfix vs one without (goal at most 1.03x, must stay under 1.05x).
2. The same program unguarded, under spawnfix, vs its hand-guarded twin without spawnfix
   (goal at most 1.05x, must stay under 1.10x).
3. Both again under forkserver (spawnfix vs plain: goal faster or equal).

Usage: python bench/pool_overhead.py [--runs N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from guarded_twin import compare_with_guarded_twin

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    for method in ("spawn", "forkserver"):
        compare_with_guarded_twin(SCRIPTS / "pool_unguarded.py", args.runs, START_METHOD=method)
        print()


if __name__ == "__main__":
    main()
