"""What spawnfix costs around a small spawn Pool.

1. A guarded script that starts Pool(4) and maps a trivial function, in an environment
   with spawnfix vs one without (goal at most 1.03x, must stay under 1.05x).
2. The same program unguarded, under spawnfix, vs its hand-guarded twin without spawnfix
   (goal at most 1.05x, must stay under 1.10x).

Usage: python bench/pool_overhead.py [--runs N]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import environments, interleaved, machine_description, median_ms, time_command
from guarded_twin import guarded_twin

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    envs = environments([])
    folder = Path(tempfile.mkdtemp(prefix="spawnfix-bench-pool-"))
    unguarded = SCRIPTS / "pool_unguarded.py"
    guarded = folder / "pool_guarded.py"
    guarded.write_text(guarded_twin(unguarded.read_text()))

    samples = interleaved(
        {
            "guarded, without spawnfix": lambda: time_command(
                [envs["without"].python, str(guarded)]
            ),
            "guarded, with spawnfix": lambda: time_command([envs["with"].python, str(guarded)]),
            "unguarded, with spawnfix": lambda: time_command(
                [envs["with"].python, str(unguarded)], SPAWNFIX="quiet"
            ),
        },
        args.runs,
    )
    medians = {name: median_ms(values) for name, values in samples.items()}
    base = medians["guarded, without spawnfix"]
    print(f"machine: {machine_description()}; {args.runs} interleaved runs each\n")
    print("| script | median wall time | ratio to guarded without spawnfix |")
    print("|---|---|---|")
    for name, value in medians.items():
        print(f"| {name} | {value:.1f} ms | {value / base:.3f} |")


if __name__ == "__main__":
    main()
