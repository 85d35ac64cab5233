"""forkserver children that start fast: the fork server preloads the script's imports.

A DataLoader with two non-persistent workers (new workers every epoch), 4 epochs over a
tiny dataset (``tests/scripts/ml_cases/loader_epochs*.py``), torch 2.13.0 CPU:

- the guarded script under fork, spawn and forkserver without spawnfix, and under
  forkserver with spawnfix (the fork server preloads torch and starts ahead of need):
  goal at most 1.15x fork;
- the unguarded script under forkserver with spawnfix vs the guarded one with spawnfix,
  also with the 3.13.8+/3.14 main preload emulated (goal at most 1.05x);
- the guarded script under forkserver with spawnfix but ``SPAWNFIX_WARM=0`` (the fork
  server started by the first worker, as before it was started ahead of need).

Every variant must print the same batches (checked once before the timing).

For scale, ``import torch`` alone and two of them at once: how much a fork server importing
torch beside the parent slows the parent's own import on this machine's cores.

Prints a Markdown table (ratios to fork) and a text chart of the start methods, before
(preload only, ``SPAWNFIX_WARM=0``) and now, for docs/performance.md.

Usage: python bench/forkserver_preload.py [--runs N]   (needs Python 3.11 for torch 2.13.0)
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from functools import partial
from pathlib import Path
from typing import Any, Callable

from common import (
    REPO,
    bar_chart,
    build_wheel,
    interleaved,
    machine_description,
    median_ms,
    output_of,
    print_medians,
    time_command,
    time_together,
)
from ml_scenarios import ML_REQUIREMENTS, sys_python

from support import venvs

# Python 3.13.8+/3.14 pass the main path to the fork server, which then runs the main
# script there (gh-126631); older versions drop it. Prepended to a script, this backports
# it (as tests/scripts/corpus/forkserver_preload.py does).
EMULATED_314_PRELOAD = """\
from multiprocessing import spawn as _spawn

_build_preparation_data = _spawn.get_preparation_data


def _with_main_path(name):
    data = _build_preparation_data(name)
    if name == "ignore" and "init_main_from_path" in data:
        data["main_path"] = data["init_main_from_path"]
    return data


_spawn.get_preparation_data = _with_main_path
"""


def run_case(
    python: str,
    case: str,
    start_method: str,
    mode: str,
    cwd: Path,
    marker: Path,
    warm: str = "1",
    measure: Callable[..., Any] = time_command,
) -> Any:
    """Wall time of one run of ``ml_cases.<case>`` (or, with ``measure=output_of``, what
    it printed)."""
    return measure(
        [python, "-m", f"ml_cases.{case}"],
        cwd=cwd,
        SPAWNFIX=mode,
        SPAWNFIX_WARM=warm,
        START_METHOD=start_method,
        MARKER_FILE=str(marker),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = venvs.cached_env(sys_python(), ML_REQUIREMENTS, wheel=build_wheel())
    folder = Path(tempfile.mkdtemp(prefix="spawnfix-bench-preload-"))
    shutil.copytree(REPO / "tests" / "scripts" / "ml_cases", folder / "ml_cases")
    for case in ("loader_epochs", "loader_epochs_guarded"):
        source = (folder / "ml_cases" / f"{case}.py").read_text()
        (folder / "ml_cases" / f"{case}_314.py").write_text(EMULATED_314_PRELOAD + source)
    marker = folder / "markers.txt"
    run = partial(run_case, env.python, cwd=folder, marker=marker)
    variants = {
        "guarded, fork, without spawnfix": partial(run, "loader_epochs_guarded", "fork", "0"),
        "guarded, spawn, without spawnfix": partial(run, "loader_epochs_guarded", "spawn", "0"),
        "guarded, forkserver, without spawnfix": partial(
            run, "loader_epochs_guarded", "forkserver", "0"
        ),
        "guarded, forkserver, with spawnfix": partial(
            run, "loader_epochs_guarded", "forkserver", "quiet"
        ),
        "unguarded, forkserver, with spawnfix": partial(
            run, "loader_epochs", "forkserver", "quiet"
        ),
        "guarded, forkserver, with spawnfix, SPAWNFIX_WARM=0 (before)": partial(
            run, "loader_epochs_guarded", "forkserver", "quiet", warm="0"
        ),
        "emulated 3.14 main preload: guarded, with spawnfix": partial(
            run, "loader_epochs_guarded_314", "forkserver", "quiet"
        ),
        "emulated 3.14 main preload: unguarded, with spawnfix": partial(
            run, "loader_epochs_314", "forkserver", "quiet"
        ),
    }
    # Every variant computes the same batches (checked once, before the timing).
    outputs = {name: variant(measure=output_of) for name, variant in variants.items()}
    if len(set(outputs.values())) != 1:
        raise SystemExit(f"the variants printed different batches: {outputs}")
    # The floor for a fork server that imports torch beside the parent: torch's import
    # alone, and two of them at once, on this machine's cores.
    import_torch = [env.python, "-c", "import torch"]
    variants["import torch alone"] = partial(time_command, import_torch, cwd=folder)
    variants["two imports of torch at once"] = partial(time_together, import_torch, 2, cwd=folder)
    samples = interleaved(variants, args.runs)
    medians = {name: median_ms(values) for name, values in samples.items()}
    print(f"machine: {machine_description()}; {args.runs} interleaved runs each\n")
    print_medians(medians, "guarded, fork, without spawnfix", "vs fork")
    plain = medians["guarded, forkserver, without spawnfix"]
    with_fix = medians["guarded, forkserver, with spawnfix"]
    print(f"\nguarded, forkserver, with spawnfix vs plain forkserver: {with_fix / plain:.3f}")
    chart = {
        "fork": medians["guarded, fork, without spawnfix"],
        "spawn": medians["guarded, spawn, without spawnfix"],
        "forkserver": plain,
        "forkserver + spawnfix, preload only (before)": medians[
            "guarded, forkserver, with spawnfix, SPAWNFIX_WARM=0 (before)"
        ],
        "forkserver + spawnfix, warm (now)": with_fix,
    }
    print(f"\n```\n{bar_chart(chart)}\n```")
    ratio = (
        medians["unguarded, forkserver, with spawnfix"]
        / medians["guarded, forkserver, with spawnfix"]
    )
    print(f"\nunguarded vs guarded, both with spawnfix: {ratio:.3f}")
    emulated = (
        medians["emulated 3.14 main preload: unguarded, with spawnfix"]
        / medians["emulated 3.14 main preload: guarded, with spawnfix"]
    )
    print(f"with the emulated 3.14 main preload, unguarded vs guarded: {emulated:.3f}")
    alone, together = medians["import torch alone"], medians["two imports of torch at once"]
    print(
        f"`import torch` alone {alone / 1000:.2f} s, two at once {together / 1000:.2f} s "
        f"({together / alone:.3f}): what the fork server's import costs the parent's here"
    )


if __name__ == "__main__":
    main()
