"""What sending a function by value costs: the notebook case.

A spawn ``Pool(4).map`` of 10,000 small tasks, with spawnfix installed, once from a file
(the function travels by reference) and once as ``python -c`` (an interactive
``__main__``: spawnfix sends the function by value with cloudpickle). The ratio is the
price a notebook user pays for a program that could not run at all without spawnfix
(goal at most 1.10x).

Usage: python bench/by_value_overhead.py [--runs N] [--tasks N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import environments, interleaved, machine_description, median_ms, time_command

SCRIPT = Path(__file__).resolve().parent / "scripts" / "map_small_tasks.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=10_000)
    args = parser.parse_args()
    python = environments([])["with"].python
    program = SCRIPT.read_text()
    samples = interleaved(
        {
            "file, by reference": lambda: time_command(
                [python, str(SCRIPT)], SPAWNFIX="quiet", TASKS=str(args.tasks)
            ),
            "python -c, by value": lambda: time_command(
                [python, "-c", program], SPAWNFIX="quiet", TASKS=str(args.tasks)
            ),
        },
        args.runs,
    )
    medians = {name: median_ms(values) for name, values in samples.items()}
    base = medians["file, by reference"]
    print(
        f"machine: {machine_description()}; {args.tasks} tasks; {args.runs} interleaved runs each\n"
    )
    print("| program | median wall time | ratio to the file |")
    print("|---|---|---|")
    for name, value in medians.items():
        print(f"| {name} | {value:.1f} ms | {value / base:.3f} |")


if __name__ == "__main__":
    main()
