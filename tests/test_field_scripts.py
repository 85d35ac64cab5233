"""A user runs an unguarded script shaped like the ones people write (issue 8).

The yardstick is fork parity: the same script under ``fork`` (Linux's default before
Python 3.14), without spawnfix. Under spawn and forkserver, with spawnfix installed, each
script must print what it printed there and exit the same way, as a file and with ``-m``,
on each Python of the matrix. With ``SPAWNFIX=0`` each one fails natively (asserted), so
every test here proves that spawnfix is what makes it pass.
"""

from __future__ import annotations

import pytest

from conftest import matrix_pythons
from support.corpus import FILE, MODULE, CorpusRun, run_corpus
from support.scripts import NATIVE_HANG_SECONDS, free_port

FOLDER = "field"
START_METHODS = ("spawn", "forkserver")
INVOCATIONS = (FILE, MODULE)
# A natively hanging Pool is killed after this long (it would respawn workers forever).

# script -> what its run without spawnfix under spawn shows in stderr.
NATIVE_FAILURES = {
    "pool_maxtasks": "bootstrapping phase",
    "thread_starts_pool": "bootstrapping phase",
    "thread_pool_starts_pool": "bootstrapping phase",
    "grandchild": "bootstrapping phase",
    "mkdir_before_pool": "FileExistsError",
    "port_before_pool": "Address already in use",
    "main_called": "bootstrapping phase",
    "asyncio_executor": "BrokenProcessPool",
    "argparse_exit": "bootstrapping phase",
}
# Events that the parent alone records: the script's last top-level statement (the
# argparse script ends in sys.exit(), so its parent-only event is inside run()).
PARENT_ONLY = {"argparse_exit": set()}


def _run(python: str, script: str, start_method: str, invocation: str, tmp_path, **env):
    return run_corpus(
        python,
        script,
        start_method,
        invocation,
        tmp_path,
        folder=FOLDER,
        PORT=str(free_port()),
        **env,
    )


_fork_references: dict[tuple[str, str], CorpusRun] = {}


def fork_reference(python: str, script: str, tmp_path) -> CorpusRun:
    """The script under ``fork`` without spawnfix: what it printed before Python 3.14."""
    key = (python, script)
    if key not in _fork_references:
        run = _run(python, script, "fork", FILE, tmp_path / "fork", SPAWNFIX="0")
        assert run.result.returncode == 0, run.result.output
        _fork_references[key] = run
    return _fork_references[key]


@pytest.mark.parametrize("invocation", INVOCATIONS)
@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("script", sorted(NATIVE_FAILURES))
@pytest.mark.parametrize("version", matrix_pythons())
def test_field_script_prints_what_fork_printed(
    envs, tmp_path, version, script, start_method, invocation
):
    """Same stdout and exit code as under fork; no traceback; one warning."""
    python = envs.get(version).python
    reference = fork_reference(python, script, tmp_path)
    run = _run(python, script, start_method, invocation, tmp_path / "run")

    assert not run.result.timed_out, run.result.output
    assert run.result.returncode == reference.result.returncode, run.result.output
    assert run.result.stdout == reference.result.stdout, run.result.output
    assert "Traceback" not in run.result.stderr, run.result.output
    assert run.result.stderr.count("UnguardedMainWarning") == 1, run.result.output
    parent = run.parent_pid
    for event in PARENT_ONLY.get(script, {"end"}):
        assert run.pids_for(event) == {parent}, run.markers


@pytest.mark.parametrize("script", sorted(NATIVE_FAILURES))
def test_field_script_fails_without_spawnfix(main_env, tmp_path, script):
    """SPAWNFIX=0 under spawn: the native failure (a crash, a hang, or wrong output)."""
    reference = fork_reference(main_env.python, script, tmp_path)
    run = _run(
        main_env.python,
        script,
        "spawn",
        FILE,
        tmp_path / "off",
        timeout=NATIVE_HANG_SECONDS,
        SPAWNFIX="0",
    )
    # Fork prints no traceback; natively some of these only print tracebacks (a helper
    # thread's Pool dies in every child, whose own output is lost when it is terminated).
    differs = (
        run.result.timed_out
        or run.result.returncode != reference.result.returncode
        or run.result.stdout != reference.result.stdout
        or ("Traceback" in run.result.stderr and "Traceback" not in reference.result.stderr)
    )
    assert differs, run.result.output
    assert NATIVE_FAILURES[script] in run.result.stderr, run.result.output


@pytest.mark.parametrize("start_method", START_METHODS)
def test_failing_statement_is_skipped_and_logged(main_env, tmp_path, start_method):
    """A top-level statement that would change the world again is refused in the child
    (with ``SPAWNFIX_VALUES=0``: fails when repeated) and skipped; SPAWNFIX_DEBUG says
    which statement and why."""
    run = _run(
        main_env.python,
        "mkdir_before_pool",
        start_method,
        FILE,
        tmp_path,
        SPAWNFIX_DEBUG="1",
    )
    assert run.result.returncode == 0, run.result.output
    skipped = 'skipped the statement at line 18 (os.mkdir("results")), which raised EffectRefused'
    assert skipped in run.result.stderr, run.result.output
    assert "the parent already did this (os.mkdir); a child does not" in run.result.stderr
    rerun = _run(
        main_env.python,
        "mkdir_before_pool",
        start_method,
        FILE,
        tmp_path / "rerun",
        SPAWNFIX_DEBUG="1",
        SPAWNFIX_VALUES="0",
    )
    assert rerun.result.returncode == 0, rerun.result.output
    assert skipped.replace("EffectRefused", "FileExistsError") in rerun.result.stderr


@pytest.mark.parametrize("start_method", START_METHODS)
def test_grandchildren_get_the_plan(main_env, tmp_path, start_method):
    """The grandchild re-runs the script under the plan its parent received, with the
    values its parent (the child) had: like the child it redoes none of the script's
    top-level work (no "start", no "end"), as under fork; with ``SPAWNFIX_VALUES=0`` both
    visibly re-run the part before the spawn site."""
    for values, top_level in (("1", []), ("0", ["start"])):
        run = _run(
            main_env.python,
            "grandchild",
            start_method,
            FILE,
            tmp_path / values,
            SPAWNFIX_VALUES=values,
        )
        assert run.result.returncode == 0, run.result.output
        (grandchild_pid,) = run.pids_for("grandchild")
        (child_pid,) = run.pids_for("child")
        for pid, work in ((grandchild_pid, "grandchild"), (child_pid, "child")):
            events = [event for p, module, event in run.markers if p == pid]
            assert events == [*top_level, work], run.markers
