"""Startup cost of the installed hook: every Python process in the environment pays it.

Compares two fresh environments of this interpreter, one with the spawnfix wheel and one
without, on ``python -c pass``, on ``python -c "import multiprocessing,
concurrent.futures"`` and on a script that imports multiprocessing and names forkserver
but starts no process (``bench/scripts/idle_multiprocessing.py``: spawnfix reads it to
decide on a warm fork server, and starts none). Goal: at most 1.02x; it must stay under
1.05x.

For scale, ``python -c pass`` also runs in a third environment whose only addition is an
empty hook shipped the way spawnfix ships its own: a ``.pth`` import line and a PEP 829
``.start`` entry point, each calling an empty function of a one-line module. That is the
least any startup hook costs: finding site-packages' entries and reading one ``.pyc``; on
Python 3.15+, where ``site`` runs the ``.start`` entry instead, also the ``pkgutil`` and
``re`` imports that ``site`` makes to resolve it.

Usage: python bench/startup_overhead.py [--runs N] [--python 3.15]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import (
    REPO,
    environments,
    instructions,
    interleaved,
    machine_description,
    median_ms,
    time_command,
)

from support import venvs

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


def empty_hook_python(python: str) -> str:
    """An environment made like the one without spawnfix (``venvs.create``) whose one
    addition is an empty hook in spawnfix's shape: ``empty_hook.pth`` (an import line) and
    ``empty_hook.start`` (its entry point), both calling an empty ``activate()``."""
    folder = Path(tempfile.mkdtemp(prefix="spawnfix-bench-empty-hook-")) / "env"
    env = venvs.create(folder, python)
    (site_packages,) = folder.glob("lib/python*/site-packages")
    (site_packages / "empty_hook.py").write_text("def activate():\n    pass\n")
    (site_packages / "empty_hook.pth").write_text("import empty_hook; empty_hook.activate()\n")
    (site_packages / "empty_hook.start").write_text("empty_hook:activate\n")
    compiled = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [env.python, "-m", "compileall", "-q", str(site_packages)],
        check=True,
        env=compiled,
        timeout=300,
    )
    return str(env.python)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--python", help="a version to measure instead of this one (3.15)")
    args = parser.parse_args()
    envs = environments([], args.python)
    print(f"machine: {machine_description()}; {args.runs} interleaved runs each\n")
    print("| program | without spawnfix (median) | with spawnfix (median) | ratio |")
    print("|---|---|---|---|")
    for label, arguments in PROGRAMS.items():
        samples = interleaved(
            {
                name: (lambda env=env, arguments=arguments: time_command([env.python, *arguments]))
                for name, env in envs.items()
            },
            args.runs,
        )
        without, with_fix = median_ms(samples["without"]), median_ms(samples["with"])
        print(f"| `{label}` | {without:.2f} ms | {with_fix:.2f} ms | {with_fix / without:.3f} |")
    empty_hook = empty_hook_python(
        venvs.find_python(args.python) if args.python else sys.executable
    )
    floor = interleaved(
        {
            name: (lambda python=python: time_command([python, "-c", "pass"]))
            for name, python in (
                ("without", envs["without"].python),
                ("empty hook", empty_hook),
                ("with", envs["with"].python),
            )
        },
        args.runs,
    )
    base = median_ms(floor["without"])
    print(
        f"\n`python -c pass` again, beside an empty hook (`.pth` and `.start`): without "
        f"{base:.2f} ms, empty hook {median_ms(floor['empty hook']) / base:.3f}, "
        f"spawnfix {median_ms(floor['with']) / base:.3f}."
    )
    counts = {
        name: instructions([python, "-c", "pass"])
        for name, python in (
            ("without", envs["without"].python),
            ("empty hook", empty_hook),
            ("with", envs["with"].python),
        )
    }
    if counts["without"]:
        base_count = counts["without"]
        print(
            f"\nInstructions of `python -c pass` (valgrind; the same on a loaded machine): "
            f"without {base_count / 1e6:.2f} M, empty hook "
            f"{counts['empty hook'] / base_count:.3f}, spawnfix {counts['with'] / base_count:.3f}."
        )
    wrapt = interleaved(
        {
            "pass": lambda: time_command([envs["with"].python, "-c", "pass"]),
            "wrapt": lambda: time_command([envs["with"].python, "-c", "import wrapt"]),
        },
        args.runs // 4,
    )
    extra = median_ms(wrapt["wrapt"]) - median_ms(wrapt["pass"])
    print(
        f"\nFor comparison, `import wrapt` adds {extra:.1f} ms to a process here: what a "
        "wrapt-based multiprocessing hook would add to every process that starts a child "
        "and to every spawned child."
    )


if __name__ == "__main__":
    main()
