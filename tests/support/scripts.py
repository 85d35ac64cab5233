"""Running a script in a fresh interpreter, the way a user would, with a timeout."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
RUN_TIMEOUT = 120


class Result:
    """What a script run produced."""

    def __init__(self, completed: subprocess.CompletedProcess, timed_out: bool) -> None:
        self.returncode = completed.returncode
        self.stdout = completed.stdout or ""
        self.stderr = completed.stderr or ""
        self.timed_out = timed_out

    @property
    def output(self) -> str:
        """stdout and stderr together, for assertion messages."""
        return f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def clean_environment(**overrides: str) -> dict[str, str]:
    """The environment a script runs with: ours, minus spawnfix settings, plus overrides."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SPAWNFIX") and k not in ("PYTHONPATH", "WANDB_START_METHOD")
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["WANDB_MODE"] = "offline"
    env["WANDB_SILENT"] = "true"
    env.update(overrides)
    return env


def run_python(
    python: str,
    args: list[str],
    cwd: Path,
    timeout: float = RUN_TIMEOUT,
    input_text: str | None = None,
    **env_overrides: str,
) -> Result:
    """Run ``python args...`` in ``cwd`` (``input_text`` on its stdin); on timeout the
    whole process group is killed."""
    env = clean_environment(**env_overrides)
    process = subprocess.Popen(
        [python, *args],
        cwd=str(cwd),
        env=env,
        stdin=subprocess.DEVNULL if input_text is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(input_text, timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        timed_out = True
    finally:
        _kill_leftovers(process.pid)
    code = 124 if timed_out else process.returncode
    return Result(subprocess.CompletedProcess(process.args, code, stdout, stderr), timed_out)


def _kill_leftovers(group: int) -> None:
    # Workers a failed script left behind must not outlive the test.
    with contextlib.suppress(OSError):
        os.killpg(group, signal.SIGKILL)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
