"""forkserver at fork speed on the real Python 3.14, where forkserver is the default.

No CPU torch exists for 3.14 here, so a stand-in: a generated package that takes about a
second of CPU to import, and a script that imports it and maps over a ``Pool(2)`` in
three rounds (fresh workers each round). Variants, interleaved, medians:

- the guarded script under fork and under plain forkserver (``SPAWNFIX=0``);
- the guarded script under forkserver with spawnfix (it names its method, through a
  variable: the program's choice, so its fork server is the standard library's, which
  imports the guarded script itself), and with ``SPAWNFIX_WARM=0``;
- a guarded script on the default method (it names none), with and without spawnfix
  (the fork server gets the script's imports and starts ahead of need);
- the unguarded twin under forkserver with spawnfix (the fork server gets the script's
  imports and starts ahead of need).

Goals: unguarded vs guarded, both with spawnfix, at most 1.05x; spawnfix vs fork at most
1.15x. For scale, the stand-in's import alone and two of them at once: a fork server that
imports the program's modules beside the parent can come no closer to fork than that.

Usage: python bench/forkserver_314.py [--runs N]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import (
    build_wheel,
    interleaved,
    machine_description,
    median_ms,
    print_medians,
    time_command,
    time_together,
)

from support import venvs

SLOW_PACKAGE = '''"""Takes about a second of CPU to import (a stand-in for torch)."""
TABLE = sum(i * i for i in range({items}))
'''

GUARDED = """import multiprocessing
import os

import slowpkg


def work(x):
    return x + slowpkg.TABLE % 7


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("START_METHOD", "forkserver"))
    for _ in range(3):
        with context.Pool(2) as pool:
            print(sum(pool.map(work, range(8))))
"""

# Guarded, and the default start method (forkserver on 3.14): a program that did not
# choose its method, so spawnfix may start its fork server ahead of need and give it the
# script's imports. (GUARDED names its method, through a variable: the program's choice,
# so its fork server is the standard library's.)
GUARDED_DEFAULT = """import multiprocessing

import slowpkg


def work(x):
    return x + slowpkg.TABLE % 7


if __name__ == "__main__":
    for _ in range(3):
        with multiprocessing.Pool(2) as pool:
            print(sum(pool.map(work, range(8))))
"""

UNGUARDED = """import multiprocessing
import os

import slowpkg


def work(x):
    return x + slowpkg.TABLE % 7


context = multiprocessing.get_context(os.environ.get("START_METHOD", "forkserver"))
for _ in range(3):
    with context.Pool(2) as pool:
        print(sum(pool.map(work, range(8))))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--items", type=int, default=12_000_000)
    args = parser.parse_args()
    python = venvs.find_python("3.14")
    if python is None:
        raise SystemExit("no Python 3.14 here (the tests provision Debian's: run them once)")
    env = venvs.cached_env(python, [], wheel=build_wheel())
    folder = Path(tempfile.mkdtemp(prefix="spawnfix-bench-314-"))
    (folder / "slowpkg").mkdir()
    (folder / "slowpkg" / "__init__.py").write_text(SLOW_PACKAGE.format(items=args.items))
    (folder / "guarded.py").write_text(GUARDED)
    (folder / "unguarded.py").write_text(UNGUARDED)
    (folder / "guarded_default.py").write_text(GUARDED_DEFAULT)

    def run(script: str, method: str, **env_vars: str) -> float:
        return time_command([env.python, script], cwd=folder, START_METHOD=method, **env_vars)

    variants = {
        "guarded, fork, without spawnfix": lambda: run("guarded.py", "fork", SPAWNFIX="0"),
        "guarded, forkserver, without spawnfix": lambda: run(
            "guarded.py", "forkserver", SPAWNFIX="0"
        ),
        "guarded, forkserver, with spawnfix": lambda: run("guarded.py", "forkserver"),
        "guarded, forkserver, with spawnfix, SPAWNFIX_WARM=0": lambda: run(
            "guarded.py", "forkserver", SPAWNFIX_WARM="0"
        ),
        "guarded, the default method, without spawnfix": lambda: run(
            "guarded_default.py", "", SPAWNFIX="0"
        ),
        "guarded, the default method, with spawnfix": lambda: run("guarded_default.py", ""),
        "unguarded, forkserver, with spawnfix": lambda: run(
            "unguarded.py", "forkserver", SPAWNFIX="quiet"
        ),
        "unguarded, forkserver, with spawnfix, SPAWNFIX_WARM=0": lambda: run(
            "unguarded.py", "forkserver", SPAWNFIX="quiet", SPAWNFIX_WARM="0"
        ),
    }
    # The floor for any fork server that imports what the parent imports: the stand-in's
    # import alone, and two of them at once (the parent's and the fork server's), on this
    # machine's cores.
    import_only = [env.python, "-c", "import slowpkg"]
    variants["the stand-in's import alone"] = lambda: time_command(import_only, cwd=folder)
    variants["two imports of it at once"] = lambda: time_together(import_only, 2, cwd=folder)
    samples = interleaved(variants, args.runs)
    medians = {name: median_ms(values) for name, values in samples.items()}
    print(f"machine: {machine_description()}; Python 3.14 ({python}); {args.runs} runs each\n")
    print_medians(medians, "guarded, fork, without spawnfix", "vs fork")
    ratio = (
        medians["unguarded, forkserver, with spawnfix"]
        / medians["guarded, the default method, with spawnfix"]
    )
    print(f"\nunguarded vs guarded on the default method, both with spawnfix: {ratio:.3f}")
    together = medians["two imports of it at once"] / medians["the stand-in's import alone"]
    print(
        f"two imports at once vs one alone: {together:.3f} (what a fork server importing "
        "beside the parent costs the parent's import on this machine)"
    )


if __name__ == "__main__":
    main()
