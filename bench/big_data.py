"""Big data at fork's speed and memory (issue 32): a 400 MB numpy array, a Dataset holding
it, ``DataLoader(num_workers=4, persistent_workers=True)``, two epochs of 64 rows
(``scripts/big_dataset.py``, unguarded; its guarded twin from ``guarded_twin.py``). For
each variant: the loader's time (from the DataLoader's creation to the end of the second
epoch, printed by the script), the whole run's wall time, and the peak PSS of all the
script's descendant processes (``/proc/PID/smaps_rollup``, sampled every 20 ms, and read
by the script itself at the end of the work, its workers still alive). Every
variant's batch checksums must equal fork's (for the same array size). Interleaved runs.

``--scenario pool``: ``scripts/big_pool.py``, a guarded ``Pool(4)`` given the array as its
initializer's argument, 64 tasks reading slices (time: from the Pool's creation to the last
result).

Usage: python bench/big_data.py [--runs N] [--mb 400] [--scenario dataloader|pool]
       (Python 3.11, the tests' torch 2.13.0 CPU environment)
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from common import clean_env, environments, machine_description
from guarded_twin import guarded_twin

SCRIPTS = Path(__file__).resolve().parent / "scripts"
GUARDED = "big_dataset.py, guarded"
ML_REQUIREMENTS = [
    "torch==2.13.0",
    "pytorch-lightning==2.6.6",
    "wandb==0.31.0",
    "tensorboard==2.21.0",
]
# name: (script, start method, environment: with or without spawnfix, settings)
VARIANTS = {
    "fork (the limit)": ("big_dataset.py", "fork", "without", {}),
    "forkserver, unguarded, spawnfix": ("big_dataset.py", "forkserver", "with", {}),
    "spawn, unguarded, spawnfix": ("big_dataset.py", "spawn", "with", {}),
    "forkserver, guarded, spawnfix": (GUARDED, "forkserver", "with", {}),
    "spawn, guarded, spawnfix": (GUARDED, "spawn", "with", {}),
    "forkserver, guarded, without spawnfix": (
        GUARDED,
        "forkserver",
        "without",
        {},
    ),
    "spawn, guarded, without spawnfix": (GUARDED, "spawn", "without", {}),
    # The start cost: the same runs with a 1 MiB array (the rest is the data's cost).
    "forkserver, unguarded, spawnfix, 1 MiB array": (
        "big_dataset.py",
        "forkserver",
        "with",
        {"BIG_MB": "1"},
    ),
    "spawn, unguarded, spawnfix, 1 MiB array": ("big_dataset.py", "spawn", "with", {"BIG_MB": "1"}),
    "spawn, unguarded, spawnfix, sharing off": (
        "big_dataset.py",
        "spawn",
        "with",
        {"SPAWNFIX_SHARE_ABOVE": "0"},
    ),
}
# --scenario pool: Pool(4) with the array as its initializer's argument, 64 tasks.
POOL_VARIANTS = {
    "fork (the limit)": ("big_pool.py", "fork", "without", {}),
    "forkserver, spawnfix": ("big_pool.py", "forkserver", "with", {}),
    "spawn, spawnfix": ("big_pool.py", "spawn", "with", {}),
    "forkserver, without spawnfix": ("big_pool.py", "forkserver", "without", {}),
    "spawn, without spawnfix": ("big_pool.py", "spawn", "without", {}),
    "spawn, without spawnfix, 1 MiB array": ("big_pool.py", "spawn", "without", {"BIG_MB": "1"}),
}


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children of all its threads, recursively)."""
    found, waiting = [], [pid]
    while waiting:
        parent = waiting.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as handle:
                    children = [int(child) for child in handle.read().split()]
            except OSError:
                continue
            found.extend(children)
            waiting.extend(children)
    return found


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            text = handle.read()
    except OSError:
        return 0
    found = re.search(r"^Pss:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else 0


def script_path(script: str) -> Path:
    """The script's file (the guarded twin is written once, into a temporary folder)."""
    if script != GUARDED:
        return SCRIPTS / script
    twin = Path(tempfile.gettempdir()) / "spawnfix-bench-big-data" / "big_dataset_guarded.py"
    if not twin.exists():
        twin.parent.mkdir(exist_ok=True)
        twin.write_text(guarded_twin((SCRIPTS / "big_dataset.py").read_text()))
        helper = SCRIPTS / "descendants_pss.py"
        (twin.parent / helper.name).write_text(helper.read_text())
    return twin


def run_once(python: str, script: str, method: str, mb: int, settings: dict) -> tuple:
    """(loader seconds, wall seconds, peak PSS of the descendants in MiB, checksum)."""
    env = clean_env(**{"START_METHOD": method, "BIG_MB": str(mb), "SPAWNFIX": "quiet", **settings})
    start = time.perf_counter()
    process = subprocess.Popen(
        [python, str(script_path(script))],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            total = sum(pss_kib(child) for child in descendants(process.pid))
            peak[0] = max(peak[0], total)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    out, err = process.communicate(timeout=600)
    wall = time.perf_counter() - start
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{script} {method} failed:\n{err[-3000:]}")
    found = re.search(r"loader ([\d.]+) s checksum ([-\d.]+) pss (\d+)", out)
    if found is None:
        raise RuntimeError(f"no result from {script} {method}:\n{out}\n{err[-3000:]}")
    # The script's own reading at the end of the work (the workers still alive), or a
    # higher one the sampling saw (short-lived workers may end between two samples).
    pss = max(peak[0] / 1024, float(found.group(3)))
    return float(found.group(1)), wall, pss, found.group(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mb", type=int, default=400)
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    parser.add_argument("--scenario", choices=["dataloader", "pool"], default="dataloader")
    args = parser.parse_args()
    envs = environments(ML_REQUIREMENTS, "3.11")
    variants = POOL_VARIANTS if args.scenario == "pool" else VARIANTS
    chosen = {n: v for n, v in variants.items() if not args.only or n in args.only}
    samples: dict[str, list[tuple]] = {name: [] for name in chosen}
    for _ in range(args.runs):
        for name, (script, method, which, settings) in chosen.items():
            settings = dict(settings)
            if which == "without":
                settings["SPAWNFIX"] = "0"
            samples[name].append(run_once(envs[which].python, script, method, args.mb, settings))
    print(machine_description())
    print(f"{args.scenario}: array {args.mb} MiB, {args.runs} runs each, medians\n")
    reference = samples.get("fork (the limit)")
    fork_loader = statistics.median(s[0] for s in reference) if reference else None
    fork_pss = statistics.median(s[2] for s in reference) if reference else None
    checksums: dict[str, set[str]] = {}  # by array size: every variant's, every run's
    for name, runs in samples.items():
        size = chosen[name][3].get("BIG_MB", str(args.mb))
        checksums.setdefault(size, set()).update(s[3] for s in runs)
    print("| variant | timed part | x fork | whole run | PSS of the children | x fork |")
    print("|---|---|---|---|---|---|")
    for name, runs in samples.items():
        loader = statistics.median(s[0] for s in runs)
        wall = statistics.median(s[1] for s in runs)
        pss = statistics.median(s[2] for s in runs)
        ratio = f"{loader / fork_loader:.1f}x" if fork_loader else "-"
        pss_ratio = f"{pss / fork_pss:.2f}x" if fork_pss else "-"
        cells = (name, f"{loader:.2f} s", ratio, f"{wall:.2f} s", f"{pss:,.0f} MiB", pss_ratio)
        print("| " + " | ".join(cells) + " |")
    equal = all(len(found) == 1 for found in checksums.values())
    print(f"\nchecksums: {'equal for each array size' if equal else checksums}")


if __name__ == "__main__":
    main()
