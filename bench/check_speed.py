"""How fast ``spawnfix check`` reads a folder of 1,000 scripts (half of them unguarded).

Usage: python bench/check_speed.py [--runs N] [--scripts N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import REPO, environments, machine_description


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scripts", type=int, default=1000)
    args = parser.parse_args()
    python = environments([])["with"].python
    folder = Path(tempfile.mkdtemp(prefix="spawnfix-bench-check-"))
    corpus = REPO / "tests" / "scripts" / "corpus"
    texts = [(corpus / "top_pool.py").read_text(), (corpus / "guarded.py").read_text()]
    for index in range(args.scripts):
        (folder / f"script_{index:04d}.py").write_text(texts[index % 2])
    timings = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run(
            [python, "-m", "spawnfix", "check", str(folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=300,
        )
        timings.append(time.perf_counter() - started)
    print(f"machine: {machine_description()}; {args.runs} runs\n")
    print(
        f"`spawnfix check` over {args.scripts} scripts: median {statistics.median(timings):.2f} s"
    )


if __name__ == "__main__":
    main()
