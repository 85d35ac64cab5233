"""Shared helpers for the benchmarks: environments, interleaved timing, reporting.

The machine is small and noisy, so every benchmark runs its variants interleaved (A, B,
A, B, ...) in one process and reports medians and the ratio of medians, never a single
timing. Environments come from the test helpers (``tests/support/venvs.py``) and are
cached the same way.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support import venvs  # noqa: E402  (after the path set-up above)


def build_wheel() -> Path:
    """Build the spawnfix wheel from this source tree into a temporary folder."""
    out = Path(tempfile.mkdtemp(prefix="spawnfix-bench-wheel-"))
    venvs.run_checked(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("-q", "-w", str(out), str(REPO)),
        ]
    )
    (wheel,) = out.glob("spawnfix-*.whl")
    return wheel


def environments(
    requirements: List[str], version: str | None = None, wheel: Path | None = None
) -> Dict[str, venvs.Venv]:
    """Two cached environments, with and without spawnfix, of this interpreter or of
    Python ``version`` as the tests find it (3.14 and 3.15: Debian's, provisioned); spawnfix
    from ``wheel``, or from a wheel built from this source tree."""
    wheel = wheel or build_wheel()
    python = venvs.find_python(version) if version else sys.executable
    if python is None:
        raise SystemExit(f"no Python {version} here (the tests provision it: run them once)")
    return {
        "without": venvs.cached_env(python, requirements, wheel=None),
        # spawnfix's own dependencies are in every lock (tests/locks/py<X.Y>-base.txt)
        "with": venvs.cached_env(python, requirements, wheel=wheel),
    }


def clean_env(**overrides: str) -> Dict[str, str]:
    """The benchmark's environment: no spawnfix settings unless asked for."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPAWNFIX")}
    env.pop("PYTHONPATH", None)
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", **overrides)
    return env


def run_checked(
    args: List[str], cwd: Path | None = None, stdout: int = subprocess.DEVNULL, **env: str
) -> subprocess.CompletedProcess:
    """One run of ``args`` in the benchmark's environment; it must succeed (its stderr
    is in the error otherwise)."""
    completed = subprocess.run(
        args,
        cwd=cwd,
        env=clean_env(**env),
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=600,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{completed.stderr[-3000:]}")
    return completed


def time_command(args: List[str], cwd: Path | None = None, **env: str) -> float:
    """Wall time of one run of ``args``; the run must succeed."""
    start = time.perf_counter()
    run_checked(args, cwd, **env)
    return time.perf_counter() - start


def output_of(args: List[str], cwd: Path | None = None, **env: str) -> str:
    """The standard output of one run of ``args`` (which must succeed), to check that the
    variants a benchmark compares compute the same thing."""
    return run_checked(args, cwd, subprocess.PIPE, **env).stdout


def time_together(args: List[str], copies: int, cwd: Path | None = None, **env: str) -> float:
    """Wall time of ``copies`` runs of ``args`` started at once, until the last one ends."""
    start = time.perf_counter()
    running = [
        subprocess.Popen(
            args, cwd=cwd, env=clean_env(**env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for _ in range(copies)
    ]
    for process in running:
        _, errors = process.communicate(timeout=600)
        if process.returncode != 0:
            raise RuntimeError(f"{args} failed:\n{errors.decode()[-3000:]}")
    return time.perf_counter() - start


def instructions(args: List[str], **env: str) -> int | None:
    """Instructions one run of ``args`` executes, counted by valgrind (callgrind), or None
    where valgrind is missing. Unlike wall time, the count does not move with the
    machine's load; ``PYTHONHASHSEED`` is fixed, since string hashes change dict probing."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    command = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *args]
    completed = run_checked(command, PYTHONHASHSEED="0", **env)
    found = re.search(r"refs:\s+([\d,]+)", completed.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{completed.stderr[-3000:]}")
    return int(found.group(1).replace(",", ""))


def interleaved(variants: Dict[str, Callable[[], float]], runs: int) -> Dict[str, List[float]]:
    """Run each variant ``runs`` times, alternating between them; return all samples."""
    samples: Dict[str, List[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, run in variants.items():
            samples[name].append(run())
    return samples


def median_ms(values: List[float]) -> float:
    """Median of a list of seconds, in milliseconds."""
    return statistics.median(values) * 1000


def machine_description() -> str:
    """One line naming the machine, for the results file."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if "model name" in line]
        cpu = f"{names[0]} x{len(names)}" if names else cpu
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}, {cpu}, Python {platform.python_version()}"


def print_medians(medians: Dict[str, float], reference: str, ratio_heading: str) -> None:
    """Print a Markdown table of medians (ms) with each one's ratio to ``reference``."""
    base = medians[reference]
    print(f"| variant | median | {ratio_heading} |\n|---|---|---|")
    for name, value in medians.items():
        print(f"| {name} | {value / 1000:.2f} s | {value / base:.2f}x |")


def bar_chart(medians: Dict[str, float], width: int = 40) -> str:
    """A small text chart of medians (ms), one bar per variant, for docs/performance.md."""
    longest = max(medians.values())
    label_width = max(len(name) for name in medians)
    rows = []
    for name, value in medians.items():
        cells = value / longest * width
        bar = "█" * int(cells) + ("▌" if cells - int(cells) >= 0.5 else "")
        rows.append(f"{name.ljust(label_width)}  {bar} {value / 1000:.2f} s")
    return "\n".join(rows)
