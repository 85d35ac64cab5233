"""Instructions a change to the child's start costs or saves: the same programs with the
spawnfix wheel of an earlier commit and of this source tree, side by side.

Every process of a program is counted (valgrind's callgrind with ``--trace-children``:
the parent, the fork server and each child), with ``PYTHONHASHSEED=0``; unlike wall time
on this machine, the counts do not move with its load. Programs:

- ``python -c pass`` (the startup hook alone);
- the guarded ``Pool(4)`` map of ``pool_overhead.py`` under spawn (a program that chose
  spawn: its workers get only the watchdog's report pipe);
- its unguarded twin under spawn (workers get the re-run plan, the parent's values and
  settings, and the report pipe);
- the guarded script on the default start method (on 3.14 forkserver: a program written
  for fork, whose workers get values through the fork server).

Usage: python bench/handoff_instructions.py --before COMMIT [--python 3.11 3.14] [--runs N]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, machine_description

from support import venvs

SCRIPTS = Path(__file__).resolve().parent / "scripts"

GUARDED_DEFAULT = """import multiprocessing


def square(x):
    return x * x


if __name__ == "__main__":
    with multiprocessing.Pool(4) as pool:
        print(sum(pool.map(square, range(1000))))
"""


def wheel_of(source: Path, out: Path) -> Path:
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("-q", "-w", str(out), str(source)),
        ],
        check=True,
        timeout=600,
    )
    (wheel,) = out.glob("spawnfix-*.whl")
    return wheel


def venv_with(python: str, wheel: Path, folder: Path) -> str:
    """A scratch environment (not the tests' cache) with ``wheel`` and nothing else."""
    venv = venvs.create(folder, python)
    venv.pip("install", "--no-deps", str(wheel))
    return venv.python


def counted(args: list[str], cwd: Path, **env: str) -> int:
    """Instructions of every process of one run of ``args``."""
    out = Path(tempfile.mkdtemp(prefix="spawnfix-cg-"))
    command = [
        shutil.which("valgrind") or "valgrind",
        "--tool=callgrind",
        "--trace-children=yes",
        f"--callgrind-out-file={out}/cg.%p",
        *args,
    ]
    environ = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", **env}
    subprocess.run(command, cwd=cwd, env=environ, check=True, timeout=900, capture_output=True)
    total = 0
    for path in out.glob("cg.*"):
        found = re.search(r"^(?:summary|totals):\s+(\d+)", path.read_text(), re.M)
        total += int(found.group(1)) if found else 0
    shutil.rmtree(out, ignore_errors=True)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the earlier commit")
    parser.add_argument("--python", nargs="+", default=["3.11", "3.14"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spawnfix-bench-handoff-"))
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(work / "before"), args.before],
        check=True,
        timeout=120,
        capture_output=True,
    )
    try:
        wheels = {
            f"before ({args.before})": wheel_of(work / "before", work / "wheel-before"),
            "now": wheel_of(REPO, work / "wheel-now"),
        }
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(work / "before")],
            check=False,
            timeout=120,
        )
    scripts = work / "scripts"
    scripts.mkdir()
    shutil.copy(SCRIPTS / "pool_unguarded.py", scripts / "pool_unguarded.py")
    (scripts / "guarded_default.py").write_text(GUARDED_DEFAULT)
    (scripts / "guarded_spawn.py").write_text(
        GUARDED_DEFAULT.replace(
            "    with multiprocessing.Pool(4) as pool:",
            '    with multiprocessing.get_context("spawn").Pool(4) as pool:',
        )
    )
    programs = {
        "python -c pass": (["-c", "pass"], {}),
        "guarded Pool(4), spawn (chosen)": (["guarded_spawn.py"], {}),
        "unguarded Pool(4), spawn": (["pool_unguarded.py"], {"SPAWNFIX": "quiet"}),
        "guarded Pool(4), default method": (["guarded_default.py"], {}),
    }
    print(f"machine: {machine_description()}; medians of {args.runs} runs\n")
    for version in args.python:
        python = venvs.find_python(version)
        if python is None:
            print(f"no Python {version} here (the tests provision it: run them once)")
            continue
        pythons = {
            name: venv_with(python, wheel, work / f"venv-{version}-{index}")
            for index, (name, wheel) in enumerate(wheels.items())
        }
        print(f"Python {version}\n\n| program | " + " | ".join(pythons) + " | ratio |")
        print("|---|" + "---|" * (len(pythons) + 1))
        for program, (program_args, env) in programs.items():
            medians = [
                statistics.median(
                    counted([str(executable), *program_args], scripts, **env)
                    for _ in range(args.runs)
                )
                for executable in pythons.values()
            ]
            cells = " | ".join(f"{value / 1e6:,.1f} M" for value in medians)
            print(f"| {program} | {cells} | {medians[-1] / medians[0]:.4f} |")
        print()


if __name__ == "__main__":
    main()
