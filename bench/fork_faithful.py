"""What fork-faithful children cost and save (``spawnfix.parent_values``).

1. An unguarded script that spends about a second computing a top-level table before a
   ``Pool(2)``: fork (the limit), spawn with spawnfix (the children get the parent's table),
   and spawn with ``SPAWNFIX_VALUES=0`` (the children compute it again, as before this
   round). Goal: spawnfix at most 1.2x fork.
2. The per-child cost of sending top-level data: a guarded script with 1 MB and 100 MB of
   top-level bytes and a ``Pool(2)``, spawn, with spawnfix sending them
   (``SPAWNFIX_VALUE_LIMIT=1G``; by default 100 MB is over the 16 MiB limit and is not sent)
   vs ``SPAWNFIX_VALUES=0`` (where the child computes ``os.urandom`` itself); the difference
   of medians divided by the two children.

Interleaved runs, medians; usage: python bench/fork_faithful.py [--runs N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import environments, interleaved, machine_description, median_ms, time_command

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    python = environments([])["with"].python
    print(machine_description())

    expensive = [python, str(SCRIPTS / "expensive_top_level.py")]
    samples = interleaved(
        {
            "fork": lambda: time_command(expensive, START_METHOD="fork", SPAWNFIX="0"),
            "spawn, spawnfix": lambda: time_command(
                expensive, START_METHOD="spawn", SPAWNFIX="quiet"
            ),
            "spawn, SPAWNFIX_VALUES=0": lambda: time_command(
                expensive, START_METHOD="spawn", SPAWNFIX="quiet", SPAWNFIX_VALUES="0"
            ),
        },
        args.runs,
    )
    fork = median_ms(samples["fork"])
    print("\n| expensive top-level value, Pool(2) | median | vs fork |\n|---|---|---|")
    for name, values in samples.items():
        print(f"| {name} | {median_ms(values):.0f} ms | {median_ms(values) / fork:.2f}x |")

    print("\n| top-level data, Pool(2), spawn | with values | SPAWNFIX_VALUES=0 | per child |")
    print("|---|---|---|---|")
    data = [python, str(SCRIPTS / "top_level_data.py")]
    for megabytes in ("1", "100"):
        samples = interleaved(
            {
                "values": lambda size=megabytes: time_command(
                    data, DATA_MB=size, SPAWNFIX_VALUE_LIMIT="1G"
                ),
                "off": lambda size=megabytes: time_command(data, DATA_MB=size, SPAWNFIX_VALUES="0"),
            },
            args.runs,
        )
        on, off = median_ms(samples["values"]), median_ms(samples["off"])
        print(f"| {megabytes} MB | {on:.0f} ms | {off:.0f} ms | {(on - off) / 2:+.1f} ms |")


if __name__ == "__main__":
    main()
