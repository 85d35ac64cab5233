"""Running a script in a fresh interpreter, the way a user would, with a timeout."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
RUN_TIMEOUT = 120
# How long a native run that hangs (a Pool respawning workers that die at start, forever)
# is given before it is killed: the failure it is asserted by shows in the first workers'
# stderr within a second or two.
NATIVE_HANG_SECONDS = 6


class Result:
    """What a script run produced."""

    def __init__(
        self,
        completed: subprocess.CompletedProcess,
        timed_out: bool,
        elapsed: float = 0.0,
        leftovers: tuple[int, ...] = (),
    ) -> None:
        self.returncode = completed.returncode
        self.stdout = completed.stdout or ""
        self.stderr = completed.stderr or ""
        self.timed_out = timed_out
        self.elapsed = elapsed
        # With check_leftovers: processes of the run's session still alive LEFTOVER_GRACE
        # seconds after the script exited (then killed); empty for a run that timed out.
        self.leftovers = leftovers

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
    check_leftovers: bool = False,
    **env_overrides: str,
) -> Result:
    """Run ``python args...`` in ``cwd`` (``input_text`` on its stdin); on timeout the
    whole process group is killed. ``check_leftovers``: record the processes of the run
    still alive ``LEFTOVER_GRACE`` seconds after it exited."""
    env = clean_environment(**env_overrides)
    started = time.monotonic()
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
    leftovers: tuple[int, ...] = ()
    try:
        stdout, stderr = process.communicate(input_text, timeout=timeout)
        timed_out = False
        elapsed = time.monotonic() - started
        if check_leftovers:
            leftovers = _wait_for_session_to_end(process.pid)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        timed_out = True
        elapsed = time.monotonic() - started
    finally:
        _kill_leftovers(process.pid)
    code = 124 if timed_out else process.returncode
    completed = subprocess.CompletedProcess(process.args, code, stdout, stderr)
    return Result(completed, timed_out, elapsed, leftovers)


# How long processes of a finished script (resource tracker, workers being reaped) may
# take to exit before they count as left behind.
LEFTOVER_GRACE = 5.0


def session_members(session: int) -> tuple[int, ...]:
    """Live (non-zombie) processes whose session id is ``session`` (Linux /proc)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, session_id = fields[0], int(fields[3])
        if session_id == session and state != "Z":
            members.append(int(entry))
    return tuple(members)


def _wait_for_session_to_end(session: int) -> tuple[int, ...]:
    deadline = time.monotonic() + LEFTOVER_GRACE
    while True:
        members = session_members(session)
        if not members or time.monotonic() > deadline:
            return members
        time.sleep(0.05)  # polling for an exit, bounded by the deadline


def _kill_leftovers(group: int) -> None:
    # Workers a failed script left behind must not outlive the test.
    with contextlib.suppress(OSError):
        os.killpg(group, signal.SIGKILL)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
