"""A fork server started ahead of need that nobody can notice (issue 30, findings 1 and 2).

The warm fork server (``spawnfix.warm_forkserver``) starts at ``import multiprocessing``;
its children inherit what the parent was then. A guarded ``main()`` that changes the
umask, a resource limit, the ignored signals or the signal mask, the working directory,
``sys.path`` or ``os.environ`` after its imports gets its workers as the standard library
gives them (``SPAWNFIX=0``, the reference): the first launch finds the change and a fork
server starts then, as natively. A program that daemonizes before its first Pool gets one
of its own, and whatever runs it does not wait for the warm one. Where nothing changed,
the warm fork server forks the workers.

Scripts in ``tests/scripts/warm_checks``; its ``site-packages`` folder (on ``PYTHONPATH``)
holds the "installed" modules, which the fork server preloads as the scripts import them.
The scripts name forkserver; on 3.14, where a program that names it gets its fork server
as natively (one that imports the main script, never a warm one), they take the default
(forkserver, not chosen) instead.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from support.corpus import copy_corpus
from support.scripts import RUN_TIMEOUT, clean_environment, run_python

FOLDER = "warm_checks"
VERSIONS = ["3.11", "3.14"]
STARTED = "fork server started ahead of need"

# Script, what the workers report natively, the part of the parent's state that changed.
CHANGES = [
    ("umask", "['0o600']", "umask"),
    ("open_files_limit", "[True]", "resource limits"),
    ("sigint_ignored", "['SIG_IGN']", "ignored signals"),
    ("signal_mask", "[True]", "signal mask"),
    ("chdir", "[('elsewhere', 'elsewhere')]", "working directory"),
    ("vendored", "['vendor']", "sys.path"),
    ("environment", "['1']", "environment"),
]


def _copy_scripts(python, tmp_path):
    scripts = copy_corpus(tmp_path)
    if _imports_main_in_fork_server(python):
        # 3.14+: a program that names forkserver gets its fork server as natively (it
        # imports the main script), never a warm one; the scripts take the default
        # (forkserver there, a method the program did not choose) instead.
        for path in (scripts / FOLDER).glob("*.py"):
            text = path.read_text()
            path.write_text(text.replace('get_context("forkserver")', "get_context()"))
    return scripts


def _run(python, script, tmp_path, *args, **env):
    scripts = _copy_scripts(python, tmp_path)
    site = scripts / FOLDER / "site-packages"
    return run_python(
        python, [f"{FOLDER}/{script}.py", *args], scripts, timeout=90, PYTHONPATH=str(site), **env
    )


_IMPORTS_MAIN: dict[str, bool] = {}


def _imports_main_in_fork_server(python: str) -> bool:
    # Python 3.14+ (3.13.8+ too, not in this matrix) passes the main script to the fork
    # server.
    if python not in _IMPORTS_MAIN:
        check = "import sys; print(sys.version_info >= (3, 14))"
        result = subprocess.run([python, "-c", check], capture_output=True, text=True, timeout=60)
        _IMPORTS_MAIN[python] = result.stdout.strip() == "True"
    return _IMPORTS_MAIN[python]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("script, native_output, changed", CHANGES, ids=[c[0] for c in CHANGES])
def test_a_change_after_the_warm_start_gets_a_fork_server_as_natively(
    envs, tmp_path, version, script, native_output, changed
):
    """The workers see what they see without spawnfix; the debug line names the change
    (the warm fork server had started, and was discarded at the first launch)."""
    python = envs.get(version).python
    native = _run(python, script, tmp_path / "native", SPAWNFIX="0")
    assert native.returncode == 0 and native.stdout == native_output + "\n", native.output
    fixed = _run(python, script, tmp_path / "spawnfix", SPAWNFIX_DEBUG="1")
    assert fixed.returncode == 0 and fixed.stdout == native.stdout, fixed.output
    assert STARTED in fixed.stderr, fixed.output
    assert f"warm fork server discarded: {changed} changed" in fixed.stderr, fixed.output


@pytest.mark.parametrize("version", VERSIONS)
def test_a_discarded_warm_fork_server_is_reaped(envs, tmp_path, version):
    """Once the first launch has discarded the warm fork server, it has exited and been
    waited for (no zombie), and the workers' parent is the fork server started then."""
    python = envs.get(version).python
    run = _run(python, "discarded", tmp_path, SPAWNFIX_DEBUG="1")
    assert run.returncode == 0, run.output
    expected = "warm fork server gone True\nforked by the fork server started then True\n"
    assert run.stdout == expected, run.output


@pytest.mark.parametrize("version", VERSIONS)
def test_nothing_changed_the_warm_fork_server_forks_the_workers(envs, tmp_path, version):
    """No inherited change (a SIGTERM handler in Python, an entry appended to sys.path):
    the workers' parent is the fork server started ahead of need, and its start left the
    parent's environment and descriptors as they were (natively too)."""
    python = envs.get(version).python
    kept = "environment kept True\ndescriptors kept True\n"
    warm = _run(python, "unchanged", tmp_path / "spawnfix", SPAWNFIX_DEBUG="1")
    assert warm.returncode == 0, warm.output
    assert warm.stdout == kept + "forked by the warm fork server True\n", warm.output
    assert "warm fork server used" in warm.stderr, warm.output
    assert "warm fork server discarded" not in warm.stderr, warm.output
    native = _run(python, "unchanged", tmp_path / "native", SPAWNFIX="0")
    assert native.returncode == 0, native.output
    assert native.stdout == kept + "forked by the warm fork server False\n", native.output


@pytest.mark.parametrize("spawnfix", ["1", "0"])
@pytest.mark.parametrize("version", VERSIONS)
def test_a_daemon_gets_its_own_fork_server_and_its_launcher_does_not_wait(
    envs, tmp_path, version, spawnfix
):
    """A program that daemonizes after ``import multiprocessing`` and then waits for work:
    ``subprocess.run(..., capture_output=True)`` returns at once (it waited for the daemon:
    the daemon's copy of the warm fork server's pipe kept that fork server, and its hold on
    the launcher's stdout, alive), and the daemon's Pool works (it raised
    ChildProcessError from ``ensure_running``: the fork server is no child of the
    daemon's)."""
    python = envs.get(version).python
    scripts = _copy_scripts(python, tmp_path)
    result_file, work_file = tmp_path / "result", tmp_path / "work"
    args = [python, f"{FOLDER}/daemon.py", str(result_file), str(work_file)]
    env = clean_environment(SPAWNFIX=spawnfix, SPAWNFIX_DEBUG="1")
    started = time.monotonic()
    try:
        launched = subprocess.run(
            args, cwd=scripts, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
        elapsed = time.monotonic() - started
    finally:
        work_file.touch()
    written = _wait_for_file(result_file, seconds=60)
    assert launched.returncode == 0, launched.stderr
    assert written is not None, launched.stderr
    daemon_pid, result = written.splitlines()
    _wait_for_exit(int(daemon_pid), seconds=30)
    assert result == "[0, 1, 4, 9]", launched.stderr
    assert elapsed < 5, (elapsed, launched.stderr)
    if spawnfix == "1":
        assert STARTED in launched.stderr, launched.stderr


def _wait_for_file(path: Path, seconds: float) -> str | None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)  # polling for the daemon's result, bounded by the deadline
    return path.read_text()


def _wait_for_exit(pid: int, seconds: float) -> None:
    # The daemon is no child of ours: it has exited when its pid is gone or a zombie.
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            pytest.fail(f"the daemon {pid} did not exit after its Pool")
        time.sleep(0.05)  # polling for an exit, bounded by the deadline


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
