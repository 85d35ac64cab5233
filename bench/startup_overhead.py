"""Startup cost of the installed hook: every Python process in the environment pays it.

For each Python asked for (3.11, 3.14 and 3.15 by default), compares two environments of
that interpreter, one with the spawnfix wheel and one without, on ``python -c pass``, on
``python -c "import multiprocessing, concurrent.futures"`` and on a script that imports
multiprocessing and names forkserver but starts no process
(``bench/scripts/idle_multiprocessing.py``: spawnfix reads it to decide on a warm fork
server, and starts none). Each program is timed (medians of interleaved runs) and its
instructions are counted (valgrind's callgrind, ``PYTHONHASHSEED=0``), which, unlike wall
time on this machine, do not move with its load. Goal for ``python -c pass``: at most
1.01x in instructions; bound 1.03x.

Beside ``python -c pass``, two floors, each a copy of the environment without spawnfix with
one addition:

- ``.pth`` floor: a ``.pth`` file whose one line imports nothing (``import os``, the shape
  of coverage.py's line). What ``site`` pays to read any ``.pth`` file and run a line; from
  Python 3.14 on that includes decoding the file as utf-8-sig, which imports
  ``encodings.utf_8_sig`` (paid once per interpreter, by the first non-empty ``.pth``);
- module floor: an empty hook shipped the way spawnfix ships its own, a ``.pth`` line that
  imports a one-function module and calls it. What any hook that imports a module pays.

And, for the design's sake, the least an inline finder costs (the alternative to importing
a module): a ``.pth`` line that defines and installs a finder checking the same names,
without fail-open or anything else. ``site`` compiles that line at every start (twice in a
virtual environment before 3.15), which costs more than reading a module's bytecode.

Usage: python bench/startup_overhead.py [--runs N] [--python 3.11 3.14 3.15] [--wheel W]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import (
    REPO,
    build_wheel,
    environments,
    instructions,
    interleaved,
    machine_description,
    median_ms,
    time_command,
)

IDLE_SCRIPT = REPO / "bench" / "scripts" / "idle_multiprocessing.py"
# label -> the interpreter's arguments
PROGRAMS = {
    "python -c pass": ["-c", "pass"],
    "python -c 'import multiprocessing, concurrent.futures'": [
        "-c",
        "import multiprocessing, concurrent.futures",
    ],
    "python idle_multiprocessing.py (imports multiprocessing, starts nothing)": [str(IDLE_SCRIPT)],
}
# floor -> the files added to site-packages
FLOORS = {
    ".pth floor": {"floor_hook.pth": "import os\n"},
    "module floor": {
        "floor_hook.pth": "import floor_hook; floor_hook.activate()\n",
        "floor_hook.py": "def activate():\n    pass\n",
    },
    "inline finder": {
        "floor_hook.pth": (
            "import sys; sys.meta_path.insert(0, type(sys.implementation)(find_spec=lambda "
            "name, *args: __import__('spawnfix') if name in {'multiprocessing', 'multiprocess', "
            "'billiard', 'concurrent.futures.process', 'torch', 'cloudpickle', 'wandb'} "
            "else None))\n"
        ),
    },
}


def floor_python(without: Path, files: dict[str, str]) -> str:
    """A copy of the environment without spawnfix, with ``files`` added to its
    site-packages (compiled, as an installer would)."""
    folder = Path(tempfile.mkdtemp(prefix="spawnfix-bench-floor-")) / "env"
    shutil.copytree(without, folder, symlinks=True)
    (site_packages,) = folder.glob("lib/python*/site-packages")
    for name, text in files.items():
        (site_packages / name).write_text(text)
    python = str(folder / "bin" / "python")
    modules = [str(path) for path in site_packages.glob("floor_hook*.py")]
    if modules:  # compileall without a file compiles all of sys.path
        compiled = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run(
            [python, "-m", "compileall", "-q", *modules],
            check=True,
            env=compiled,
            stdout=subprocess.DEVNULL,
            timeout=300,
        )
    return python


def measure(version: str, wheel: Path, runs: int) -> None:
    """Print the tables for one Python."""
    envs = environments([], version, wheel)
    floors = {name: floor_python(envs["without"].path, files) for name, files in FLOORS.items()}
    pythons = {"without": envs["without"].python, "with": envs["with"].python}
    print(f"\n### Python {version}\n")
    print(
        "| program | without: median, instructions | with spawnfix: median, instructions "
        "| ratio (wall) | ratio (instructions) |"
    )
    print("|---|---|---|---|---|")
    for label, arguments in PROGRAMS.items():
        variants = dict(pythons)
        if label == "python -c pass":
            variants.update(floors)
        commands = {name: [python, *arguments] for name, python in variants.items()}
        samples = interleaved(
            {
                name: (lambda command=command: time_command(command))
                for name, command in commands.items()
            },
            runs,
        )
        counts = {name: instructions(command) for name, command in commands.items()}
        wall = {name: median_ms(values) for name, values in samples.items()}
        print(
            f"| `{label}` | {wall['without']:.2f} ms, {_millions(counts['without'])} "
            f"| {wall['with']:.2f} ms, {_millions(counts['with'])} "
            f"| {wall['with'] / wall['without']:.3f} | {_ratio(counts, 'with')} |"
        )
        if label == "python -c pass":
            for name in floors:
                print(
                    f"| `python -c pass`, {name} | | {wall[name]:.2f} ms, "
                    f"{_millions(counts[name])} | {wall[name] / wall['without']:.3f} "
                    f"| {_ratio(counts, name)} |"
                )


def _millions(count: int | None) -> str:
    return "-" if count is None else f"{count / 1e6:.2f} M"


def _ratio(counts: dict[str, int | None], name: str) -> str:
    if counts[name] is None or not counts["without"]:
        return "-"
    return f"{counts[name] / counts['without']:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--python", nargs="+", default=["3.11", "3.14", "3.15"])
    parser.add_argument("--wheel", type=Path, help="a spawnfix wheel to measure instead")
    args = parser.parse_args()
    wheel = args.wheel or build_wheel()
    print(f"machine: {machine_description()}; {args.runs} interleaved runs each")
    print(f"wheel: {wheel.name}")
    for version in args.python:
        measure(version, wheel, args.runs)
    python = environments([], args.python[0], wheel)["with"].python
    wrapt = interleaved(
        {
            "pass": lambda: time_command([python, "-c", "pass"]),
            "wrapt": lambda: time_command([python, "-c", "import wrapt"]),
        },
        max(args.runs // 4, 1),
    )
    extra = median_ms(wrapt["wrapt"]) - median_ms(wrapt["pass"])
    print(
        f"\nFor comparison, `import wrapt` adds {extra:.1f} ms to a process here (Python "
        f"{args.python[0]}): what a wrapt-based multiprocessing hook would add to every process "
        "that starts a child and to every spawned child."
    )


if __name__ == "__main__":
    main()
