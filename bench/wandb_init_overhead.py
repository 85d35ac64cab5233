"""The cost of the wandb.init wrapper in a guarded script (where it changes nothing).

One environment (latest wandb and spawnfix); the script times ``wandb.init()`` itself,
with spawnfix on vs ``SPAWNFIX=0`` (wandb.init unwrapped), interleaved runs.

Usage: python bench/wandb_init_overhead.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from common import build_wheel, clean_env, machine_description

from support import venvs

SCRIPT = Path(__file__).resolve().parent / "scripts" / "wandb_init_guarded.py"


def init_time_ms(python: str, cwd: Path, mode: str) -> float:
    """Milliseconds one wandb.init() took inside the script."""
    out = subprocess.run(
        [python, str(SCRIPT)],
        cwd=cwd,
        env=clean_env(SPAWNFIX=mode),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    python = venvs.find_python("3.11") or "python3"
    env = venvs.cached_env(python, ["wandb==0.31.0"], wheel=build_wheel())
    cwd = Path(tempfile.mkdtemp(prefix="spawnfix-bench-wandb-"))
    samples: dict[str, list[float]] = {"0": [], "on": []}
    for _ in range(args.runs):
        for mode, values in samples.items():
            values.append(init_time_ms(env.python, cwd, mode))
    off, on = statistics.median(samples["0"]), statistics.median(samples["on"])
    spread = statistics.pstdev(samples["0"])
    print(f"machine: {machine_description()}; {args.runs} interleaved runs each\n")
    print("| wandb 0.31.0, guarded script | median wandb.init() | ratio |")
    print("|---|---|---|")
    print(f"| SPAWNFIX=0 (unwrapped) | {off:.1f} ms (spread {spread:.1f} ms) | 1.000 |")
    print(f"| spawnfix on (wrapped) | {on:.1f} ms | {on / off:.3f} |")


if __name__ == "__main__":
    main()
