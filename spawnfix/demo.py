"""``spawnfix demo``: an unguarded script, run without and then with spawnfix.

The script has no ``if __name__ == "__main__":`` guard and uses a ``ProcessPoolExecutor``
with the spawn (or forkserver) start method. Without spawnfix every worker re-runs the
script, reaches the pool again during its bootstrapping phase and dies, so the pool is
broken. With spawnfix the same file prints its results.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from spawnfix.run_command import run_environment

DEMO_SCRIPT = """\
import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def square(x):
    return x * x


context = multiprocessing.get_context("{start_method}")
with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
    print("squares:", list(pool.map(square, range(8))))
"""

TIMEOUT_SECONDS = 120


def run(start_method: str = "spawn") -> int:
    """Run the demo; return 0 when spawnfix fixed the script and the plain run failed."""
    with tempfile.TemporaryDirectory(prefix="spawnfix-demo-") as folder:
        script = os.path.join(folder, "unguarded_demo.py")
        with open(script, "w", encoding="utf-8") as handle:
            handle.write(DEMO_SCRIPT.format(start_method=start_method))
        print(f'--- {script} (no `if __name__ == "__main__":` guard) ---')
        print(DEMO_SCRIPT.format(start_method=start_method))
        without = _run_script(script, "off", "1. without spawnfix (SPAWNFIX=off)")
        with_fix = _run_script(script, "on", "2. with spawnfix (default mode)")
    fixed = without != 0 and with_fix == 0
    verdict = "spawnfix fixed the script" if fixed else "unexpected result"
    print(f"--- result: without spawnfix exit {without}, with spawnfix exit {with_fix}: {verdict}")
    return 0 if fixed else 1


def _excerpt(output: str) -> str:
    """The output, with long tracebacks cut down to the lines that explain them."""
    lines = output.rstrip().splitlines()
    if len(lines) <= 24:
        return "\n".join(lines)
    telling = [
        line
        for line in lines
        if "An attempt has been made" in line
        or "bootstrapping phase" in line
        or line.startswith(("RuntimeError", "concurrent."))
    ]
    unique = list(dict.fromkeys([*telling, lines[-1]]))
    return "\n".join(["    [... traceback shortened ...]", *unique])


def _run_script(script: str, mode: str, title: str) -> int:
    print(f"--- {title} ---", flush=True)
    env = run_environment(mode, os.environ)
    try:
        completed = subprocess.run(
            [sys.executable, script],
            env=env,
            timeout=TIMEOUT_SECONDS,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    except subprocess.TimeoutExpired:
        print(f"(timed out after {TIMEOUT_SECONDS} s)")
        return 124
    print(_excerpt(completed.stdout))
    print(f"(exit code {completed.returncode})", flush=True)
    return completed.returncode
