"""A guarded program with a local package of 20 modules (issue 29, finding 14): Pool(2)
four times, the start method passed by variable (``get_context(sys.argv[1])``), written
literally (``get_context("forkserver")``) and not named (3.14's default, forkserver: the
program gets fork's values and effects-once imports); with spawnfix vs ``SPAWNFIX=0``
(the same environment), interleaved. The package's modules build tables at import
(about 0.3 s in all): spawnfix used to send them to every worker and to run each child's
import again.

Usage: python bench/local_package.py [--runs N] [--python 3.14] [--method forkserver]
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
from pathlib import Path

from common import (
    environments,
    interleaved,
    machine_description,
    median_ms,
    output_of,
    time_command,
)

MODULE = textwrap.dedent(
    """
    TABLE = {i: (i * i) % 9973 for i in range(40_000)}
    NAMES = [str(i) for i in range(20_000)]


    def lookup(x):
        return TABLE[x % 40_000]
    """
)

SCRIPT = textwrap.dedent(
    """
    import multiprocessing
    import sys

    import tables
    from tables import m00


    def work(x):
        return m00.lookup(x) + len(tables.m19.NAMES)


    if __name__ == "__main__":
        context = {context}
        total = 0
        for _ in range(4):
            with context.Pool(2) as pool:
                total += sum(pool.map(work, range(200)))
        print(total)
    """
)


def write_program(folder: Path, method: str) -> dict[str, Path]:
    """The package and the two scripts (method by variable, and literal)."""
    package = folder / "tables"
    package.mkdir()
    names = [f"m{n:02d}" for n in range(20)]
    (package / "__init__.py").write_text("".join(f"from tables import {n}\n" for n in names))
    for name in names:
        (package / f"{name}.py").write_text(MODULE)
    contexts = {
        "by variable": "multiprocessing.get_context(sys.argv[1])",
        "literal": f"multiprocessing.get_context({method!r})",
        "default method": "multiprocessing",
    }
    scripts = {}
    for label, context in contexts.items():
        scripts[label] = folder / (label.replace(" ", "_") + ".py")
        scripts[label].write_text(SCRIPT.format(context=context))
    return scripts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--python", default="3.14")
    parser.add_argument("--method", default="forkserver")
    args = parser.parse_args()
    env = environments([], args.python)["with"]
    folder = Path(tempfile.mkdtemp(prefix="spawnfix-bench-package-"))
    scripts = write_program(folder, args.method)
    variants = {}
    for label, script in scripts.items():
        command = [env.python, str(script), args.method]
        outputs = {output_of(command, folder), output_of(command, folder, SPAWNFIX="0")}
        assert len(outputs) == 1, outputs
        variants[f"{label}, SPAWNFIX=0"] = lambda c=command: time_command(c, folder, SPAWNFIX="0")
        variants[f"{label}, spawnfix"] = lambda c=command: time_command(c, folder)
    samples = interleaved(variants, args.runs)
    medians = {name: median_ms(values) for name, values in samples.items()}
    print(
        f"machine: {machine_description()}; Python {args.python}; {args.method}; {args.runs} runs"
    )
    print("| script | median wall time | ratio to SPAWNFIX=0 |")
    print("|---|---|---|")
    for name, value in medians.items():
        base = medians[name.split(",")[0] + ", SPAWNFIX=0"]
        print(f"| {name} | {value:.0f} ms | {value / base:.3f} |")


if __name__ == "__main__":
    main()
