"""The ML scenarios of tests/scripts/ml_cases: unguarded under spawnfix vs hand-guarded.

For each scenario the unguarded script runs with spawnfix (quiet) and its hand-guarded
twin (``guarded_twin.py``) runs in the same environment with ``SPAWNFIX=0``, interleaved.
Also counted: how many times the script's top-level code ran (the scripts record a
``start`` marker on every execution). Goal: ratio at most 1.05, must stay under 1.15.

Usage: python bench/ml_scenarios.py [--runs N]   (needs Python 3.11 for torch 2.13.0)
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from functools import partial
from pathlib import Path

from common import REPO, interleaved, machine_description, median_ms, time_command
from guarded_twin import guarded_twin

from support import venvs
from support.scripts import free_port
from support.stacks import ML_REQUIREMENTS

SCENARIOS = {
    "DataLoader, 2 spawn workers": ("dataloader", {"START_METHOD": "spawn"}),
    "DataLoader, 2 forkserver workers": ("dataloader", {"START_METHOD": "forkserver"}),
    "torch.multiprocessing.spawn + gloo all-reduce": ("mp_spawn_allreduce", {}),
    "Lightning + WandbLogger, spawn loaders": ("lightning_wandb", {}),
    "Lightning ddp_spawn, 2 CPU processes": ("lightning_ddp_spawn", {}),
}


def run_scenario(
    python: str, case: str, variables: dict, marker: Path, cwd: Path, mode: str
) -> float:
    """Wall time of one run of ``ml_cases.<case>``; its marker file starts empty."""
    marker.unlink(missing_ok=True)
    return time_command(
        [python, "-m", f"ml_cases.{case}"],
        cwd=cwd,
        SPAWNFIX=mode,
        MARKER_FILE=str(marker),
        MASTER_PORT=str(free_port()),
        **variables,
    )


def prepare_scripts(folder: Path) -> tuple[Path, Path]:
    """Copies of the unguarded scripts and of their guarded twins, as packages."""
    unguarded = folder / "unguarded"
    shutil.copytree(REPO / "tests" / "scripts" / "ml_cases", unguarded / "ml_cases")
    guarded = folder / "guarded"
    (guarded / "ml_cases").mkdir(parents=True)
    for script in (unguarded / "ml_cases").glob("*.py"):
        twin = guarded_twin(script.read_text()) if script.name != "__init__.py" else ""
        (guarded / "ml_cases" / script.name).write_text(twin)
    return unguarded, guarded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from common import build_wheel

    env = venvs.cached_env(sys_python(), ML_REQUIREMENTS, wheel=build_wheel())
    folder = Path(tempfile.mkdtemp(prefix="spawnfix-bench-ml-"))
    unguarded, guarded = prepare_scripts(folder)
    print(f"machine: {machine_description()}; {args.runs} interleaved runs each\n")
    print(
        "| scenario | guarded twin, no spawnfix | unguarded, spawnfix | ratio "
        "| top-level runs (guarded / unguarded) |"
    )
    print("|---|---|---|---|---|")
    for label, (case, variables) in SCENARIOS.items():
        markers = {"guarded": folder / f"{case}-g.txt", "unguarded": folder / f"{case}-u.txt"}
        samples = interleaved(
            {
                "guarded": partial(
                    run_scenario, env.python, case, variables, markers["guarded"], guarded, "0"
                ),
                "unguarded": partial(
                    run_scenario,
                    env.python,
                    case,
                    variables,
                    markers["unguarded"],
                    unguarded,
                    "quiet",
                ),
            },
            args.runs,
        )
        counts = {k: path.read_text().count(" start\n") for k, path in markers.items()}
        g, u = median_ms(samples["guarded"]), median_ms(samples["unguarded"])
        print(
            f"| {label} | {g / 1000:.2f} s | {u / 1000:.2f} s | {u / g:.3f} "
            f"| {counts['guarded']} / {counts['unguarded']} |"
        )


def sys_python() -> str:
    exe = venvs.find_python("3.11")
    if exe is None:
        raise SystemExit("Python 3.11 is needed (torch 2.13.0 CPU wheel)")
    return exe


if __name__ == "__main__":
    main()
