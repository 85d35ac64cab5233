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
import tempfile
from pathlib import Path

from common import environments, interleaved, machine_description, median_ms, time_command
from guarded_twin import guarded_twin

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    envs = environments([])
    folder = Path(tempfile.mkdtemp(prefix="spawnfix-bench-maxtasks-"))
    unguarded = SCRIPTS / "maxtasks_unguarded.py"
    guarded = folder / "maxtasks_guarded.py"
    guarded.write_text(guarded_twin(unguarded.read_text()))

    samples = interleaved(
        {
            "guarded twin, without spawnfix": lambda: time_command(
                [envs["without"].python, str(guarded)]
            ),
            "guarded twin, with spawnfix": lambda: time_command(
                [envs["with"].python, str(guarded)]
            ),
            "unguarded, with spawnfix": lambda: time_command(
                [envs["with"].python, str(unguarded)], SPAWNFIX="quiet"
            ),
        },
        args.runs,
    )
    medians = {name: median_ms(values) for name, values in samples.items()}
    base = medians["guarded twin, without spawnfix"]
    print(f"machine: {machine_description()}; {args.runs} interleaved runs each\n")
    print("| script | median wall time | ratio to guarded twin without spawnfix |")
    print("|---|---|---|")
    for name, value in medians.items():
        print(f"| {name} | {value:.1f} ms | {value / base:.3f} |")


if __name__ == "__main__":
    main()
