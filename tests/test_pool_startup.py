"""A user's Pool whose workers cannot start (issue 10): it fails fast, in the parent,
with the worker's own exception, instead of respawning workers forever.

Each failing script runs under spawn and forkserver (and fork, where the failure exists
there): with spawnfix the parent exits non-zero within a few seconds with a
``WorkerStartupError`` whose message carries the child's exception and the fix, and no
process of the run is left behind. With ``SPAWNFIX=0`` the same script hangs (killed
after a short timeout). A pool whose worker is killed after serving tasks behaves as
natively.
"""

from __future__ import annotations

import pytest

from conftest import matrix_pythons
from support.corpus import FILE, run_corpus
from support.scripts import NATIVE_HANG_SECONDS

FOLDER = "pool_startup"
# Well under the time a test run may take; the watchdog needs three worker deaths.
FAIL_FAST_SECONDS = 20

# script -> (start methods where it fails, the child's exception text, the fix's words)
FAILING = {
    "import_fails_in_children": (
        ("spawn", "forkserver"),
        "ImportError: cannot import name 'fast_kernel' from 'accel' (workers only)",
        "raises when a worker re-runs it as __mp_main__ (line 7)",
    ),
    "module_removed": (
        ("spawn", "forkserver"),
        "ModuleNotFoundError: No module named 'plugin_tasks'",
        "the workers cannot import that module",
    ),
}
CASES = [(script, method) for script, spec in sorted(FAILING.items()) for method in spec[0]]


def _run(python, script, start_method, tmp_path, **kwargs):
    return run_corpus(python, script, start_method, FILE, tmp_path, folder=FOLDER, **kwargs)


def error_message(stderr: str) -> str:
    """The WorkerStartupError's message, from its traceback line to the end of stderr."""
    marker = "spawnfix.errors.WorkerStartupError: "
    assert marker in stderr, stderr
    return stderr[stderr.index(marker) :]


@pytest.mark.parametrize(("script", "start_method"), CASES)
@pytest.mark.parametrize("version", matrix_pythons())
def test_pool_fails_fast_with_the_worker_exception(envs, tmp_path, version, script, start_method):
    """Non-zero exit within seconds; the message names the child's exception and the fix;
    nothing of the run is left running."""
    _, child_error, fix = FAILING[script]
    python = envs.get(version).python
    run = _run(python, script, start_method, tmp_path, timeout=60, check_leftovers=True)
    result = run.result
    if _works_in_fork_server(script, start_method, version):
        # The program chose its start method: its children import the script, as
        # natively, where 3.14's fork server imported it once as "MainProcess".
        assert result.returncode == 0, result.output
        assert result.stdout == "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n", result.output
        assert "WorkerStartupError" not in result.stderr, result.output
        return
    assert not result.timed_out, result.output
    assert result.returncode != 0, result.output
    assert result.elapsed < FAIL_FAST_SECONDS, result.elapsed
    message = error_message(result.stderr)
    assert child_error in message, result.output
    assert fix in message, result.output
    assert "workers in a row exited during startup" in message
    assert result.leftovers == (), result.leftovers


@pytest.mark.parametrize(("script", "start_method"), CASES)
def test_pool_hangs_without_spawnfix(main_env, tmp_path, script, start_method):
    """SPAWNFIX=0: the standard library respawns the dying workers forever."""
    run = _run(
        main_env.python, script, start_method, tmp_path, timeout=NATIVE_HANG_SECONDS, SPAWNFIX="0"
    )
    assert run.result.timed_out, run.result.output
    assert FAILING[script][1] in run.result.stderr, run.result.output


@pytest.mark.parametrize("start_method", ("spawn", "forkserver", "fork"))
@pytest.mark.parametrize("version", matrix_pythons())
def test_initializer_that_recovers_keeps_its_pool(envs, tmp_path, version, start_method):
    """An initializer that fails three times, then succeeds: the standard library replaces
    the workers and the pool completes; spawnfix's watchdog leaves it alone."""
    python = envs.get(version).python
    run = _run(python, "initializer_recovers", start_method, tmp_path, timeout=120)
    assert run.result.returncode == 0, run.result.output
    assert run.result.stdout == "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n", run.result.output
    assert run.result.stderr.count("ConnectionRefusedError: database refused") == 3
    assert "WorkerStartupError" not in run.result.stderr, run.result.output


@pytest.mark.parametrize("start_method", ("spawn", "forkserver", "fork"))
def test_initializer_that_recovers_natively(main_env, tmp_path, start_method):
    """SPAWNFIX=0: the same pool completes (the reference for the test above)."""
    run = _run(
        main_env.python, "initializer_recovers", start_method, tmp_path, timeout=120, SPAWNFIX="0"
    )
    assert run.result.returncode == 0, run.result.output
    assert run.result.stdout == "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n", run.result.output


@pytest.mark.parametrize("spawnfix", ("1", "0"))
def test_initializer_that_always_raises_is_left_to_the_standard_library(
    main_env, tmp_path, spawnfix
):
    """An initializer that raises in every worker may be waiting for something that comes:
    the pool keeps replacing workers, with and without spawnfix (both killed at the
    timeout), and spawnfix never stops it."""
    run = _run(
        main_env.python,
        "initializer_raises",
        "spawn",
        tmp_path,
        timeout=NATIVE_HANG_SECONDS,
        SPAWNFIX=spawnfix,
    )
    assert run.result.timed_out, run.result.output
    assert "ValueError: config.yaml has no 'model' section" in run.result.stderr
    assert "WorkerStartupError" not in run.result.stderr, run.result.output


@pytest.mark.parametrize("start_method", ("spawn", "forkserver", "fork"))
def test_killed_worker_is_replaced_as_natively(main_env, tmp_path, start_method):
    """A worker killed after serving tasks: replaced, the next map finishes, same output."""
    with_fix = _run(main_env.python, "worker_killed", start_method, tmp_path / "on")
    without = _run(main_env.python, "worker_killed", start_method, tmp_path / "off", SPAWNFIX="0")
    assert with_fix.result.returncode == without.result.returncode == 0, with_fix.result.output
    assert with_fix.result.stdout == without.result.stdout == "first 285\nsecond 328350\n"
    assert "WorkerStartupError" not in with_fix.result.stderr


def test_guarded_pool_output_unchanged(main_env, tmp_path):
    """A working pool prints the same with and without the watchdog."""
    with_fix = run_corpus(main_env.python, "guarded", "spawn", FILE, tmp_path / "on")
    without = run_corpus(main_env.python, "guarded", "spawn", FILE, tmp_path / "off", SPAWNFIX="0")
    assert with_fix.result.stdout == without.result.stdout
    assert with_fix.result.stderr == without.result.stderr == ""


@pytest.mark.parametrize("start_method", ("spawn", "forkserver"))
def test_torch_multiprocessing_pool(envs, tmp_path, start_method):
    """torch.multiprocessing's Pool subclass gets the same fail-fast behaviour."""
    from support.stacks import ML_PYTHON, ML_REQUIREMENTS

    env = envs.get(ML_PYTHON, ML_REQUIREMENTS)
    run = _run(
        env.python,
        "torch_initializer_unpicklable",
        start_method,
        tmp_path,
        timeout=120,
        check_leftovers=True,
    )
    assert not run.result.timed_out and run.result.returncode != 0, run.result.output
    message = error_message(run.result.stderr)
    assert "FileNotFoundError: shard-00017.bin is missing" in message, run.result.output
    assert run.result.leftovers == ()


# script -> the worker's exception text
EXECUTOR_FAILING = {
    "executor_initializer_raises": (
        "ConnectionRefusedError: database at localhost:5432 refused the connection"
    ),
    "executor_import_fails": (
        "ImportError: cannot import name 'fast_kernel' from 'accel' (workers only)"
    ),
}
DIRECT_CAUSE = "The above exception was the direct cause of the following exception"


@pytest.mark.parametrize("start_method", ("spawn", "forkserver"))
@pytest.mark.parametrize("script", sorted(EXECUTOR_FAILING))
@pytest.mark.parametrize("version", matrix_pythons())
def test_broken_process_pool_gets_the_worker_exception(
    envs, tmp_path, version, script, start_method
):
    """BrokenProcessPool's cause is the worker's exception; without spawnfix it has none."""
    if version == "3.8":
        pytest.skip("3.8's executor has no manager class to patch: its error stays as is")
    python = envs.get(version).python
    with_fix = _run(python, script, start_method, tmp_path / "on", timeout=60)
    without = _run(python, script, start_method, tmp_path / "off", timeout=60, SPAWNFIX="0")
    if _works_in_fork_server(script, start_method, version):
        # see test_pool_fails_fast_with_the_worker_exception
        for run in (with_fix, without):
            assert run.result.returncode == 0, run.result.output
        return
    for run in (with_fix, without):
        assert run.result.returncode != 0 and not run.result.timed_out, run.result.output
        assert "BrokenProcessPool" in run.result.stderr, run.result.output
    cause = with_fix.result.stderr.split(DIRECT_CAUSE)[0]
    assert "reported by spawnfix" in cause, with_fix.result.output
    assert EXECUTOR_FAILING[script] in cause.split("reported by spawnfix")[1]
    if _version(version) < (3, 15):  # 3.15's executor gives a cause of its own
        assert DIRECT_CAUSE not in without.result.stderr, without.result.output


def _version(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


RAISES_ONLY_IN_CHILDREN = ("import_fails_in_children", "executor_import_fails")


def _works_in_fork_server(script: str, start_method: str, version: str) -> bool:
    """Without spawnfix, 3.14+ import the main script in the fork server, which is
    "MainProcess": a module that raises only outside the main process imports fine
    there, and forkserver workers never re-import it, so the script simply works."""
    raises_in_children = script in RAISES_ONLY_IN_CHILDREN
    return raises_in_children and start_method == "forkserver" and _version(version) >= (3, 14)


@pytest.mark.parametrize("start_method", ("spawn", "forkserver"))
def test_pool_stopped_before_it_is_built(main_env, tmp_path, start_method):
    """The watchdog decides to stop a pool whose ``__init__`` has not finished (provoked:
    the script holds ``__init__``'s last step back until the watchdog fired): the pool is
    stopped once built, each round ends with WorkerStartupError, no traceback from a
    spawnfix thread, nothing left running."""
    run = _run(
        main_env.python,
        "built_after_watchdog",
        start_method,
        tmp_path,
        timeout=120,
        check_leftovers=True,
        ROUNDS="2",
    )
    result = run.result
    assert result.returncode == 0, result.output
    assert result.stdout.count("watchdog fired before the pool was built: True") == 2, result.output
    assert result.stdout.endswith("stopped 2 of 2\n"), result.output
    assert "Exception in thread" not in result.stderr, result.output
    assert result.leftovers == (), result.leftovers


# Pools per run: fork workers die in milliseconds (where the race was met by chance).
STRESS_ROUNDS = {"fork": 25, "spawn": 4, "forkserver": 4}


@pytest.mark.parametrize("start_method", sorted(STRESS_ROUNDS))
def test_failing_pools_in_a_row_each_fail_fast(main_env, tmp_path, start_method):
    """Many failing pools in one program: every one stops with WorkerStartupError, and no
    spawnfix thread ever prints a traceback."""
    rounds = STRESS_ROUNDS[start_method]
    run = _run(
        main_env.python,
        "tasks_unpicklable_repeatedly",
        start_method,
        tmp_path,
        timeout=180,
        check_leftovers=True,
        ROUNDS=str(rounds),
    )
    result = run.result
    assert result.stdout == f"stopped {rounds} of {rounds}\n", result.output
    assert "Exception in thread" not in result.stderr, result.output
    assert result.leftovers == (), result.leftovers


@pytest.mark.parametrize("start_method", ("spawn", "forkserver"))
@pytest.mark.parametrize("version", matrix_pythons())
def test_submit_after_the_break_names_the_worker_exception(envs, tmp_path, version, start_method):
    """A submit() after the pool broke raises BrokenProcessPool from the executor's message
    alone (no cause, natively too): with spawnfix that message ends with the worker's
    exception. Provoked: the program waits for the break before submitting again."""
    if version == "3.8":
        pytest.skip("3.8's executor has no manager class to patch: its error stays as is")
    python = envs.get(version).python
    with_fix = _run(python, "executor_submit_after_break", start_method, tmp_path / "on")
    without = _run(
        python, "executor_submit_after_break", start_method, tmp_path / "off", SPAWNFIX="0"
    )
    for run in (with_fix, without):
        assert run.result.returncode == 0, run.result.output
        assert "first: BrokenProcessPool" in run.result.stdout, run.result.output
        assert "second: BrokenProcessPool cause: None" in run.result.stdout, run.result.output
    message = with_fix.result.stdout.split("message:", 1)[1]
    assert "reported by spawnfix" in message, with_fix.result.output
    assert EXECUTOR_FAILING["executor_initializer_raises"] in message, with_fix.result.output
    assert "reported by spawnfix" not in without.result.stdout, without.result.output
