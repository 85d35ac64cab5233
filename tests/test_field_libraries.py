"""A user runs an unguarded script with dask, ``multiprocess`` or ``billiard`` (issue 8).

- dask.distributed starts its worker processes from its event-loop thread, with the start
  method from ``distributed.worker.multiprocessing-method`` (set here from the
  environment), while the main thread waits in ``Client(...)``;
- ``multiprocess`` (dill-based, under Hugging Face ``datasets`` and ``pathos``) and
  ``billiard`` (Celery) are forks of multiprocessing with their own ``spawn`` module.

Each script prints under spawn and forkserver, with spawnfix, what it printed under fork
without it, and fails natively with ``SPAWNFIX=0``. A guarded dask script's workers see
the user module that ``main()`` configured, as under fork (natively: its defaults). The
libraries are pinned and share one cached environment.
"""

from __future__ import annotations

import pytest

from support.corpus import FILE, MODULE, run_corpus
from support.scripts import NATIVE_HANG_SECONDS
from support.stacks import LIBRARIES, LIBRARIES_PYTHON

REQUIREMENTS = LIBRARIES
VERSION = LIBRARIES_PYTHON
FOLDER = "field"
START_METHODS = ("spawn", "forkserver")
# script -> (expected stdout, what its native failure shows in stderr)
SCRIPTS = {
    "dask_client": ("results [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n", "Failed to start"),
    "top_multiprocess": (
        "squares [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n",
        "context has already been set",
    ),
    "top_billiard": ("squares [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n", "bootstrapping phase"),
}


@pytest.fixture(scope="module")
def libraries_env(envs):
    """Python 3.11 with distributed, multiprocess and billiard (pinned) and spawnfix."""
    return envs.get(VERSION, REQUIREMENTS)


def _run(env, script, start_method, invocation, tmp_path, **extra):
    return run_corpus(
        env.python,
        script,
        start_method,
        invocation,
        tmp_path,
        folder=FOLDER,
        DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD=start_method,
        **extra,
    )


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_fork_reference(libraries_env, tmp_path, script):
    """Under fork, without spawnfix, the script prints the expected result."""
    run = _run(libraries_env, script, "fork", FILE, tmp_path, SPAWNFIX="0")
    assert run.result.returncode == 0, run.result.output
    assert run.result.stdout == SCRIPTS[script][0], run.result.output


@pytest.mark.parametrize("invocation", (FILE, MODULE))
@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_library_script_prints_what_fork_printed(
    libraries_env, tmp_path, script, start_method, invocation
):
    """spawn and forkserver with spawnfix: the fork output, exit 0, one warning."""
    run = _run(libraries_env, script, start_method, invocation, tmp_path)
    assert not run.result.timed_out, run.result.output
    assert run.result.returncode == 0, run.result.output
    assert run.result.stdout == SCRIPTS[script][0], run.result.output
    assert run.result.stderr.count("UnguardedMainWarning") == 1, run.result.output
    assert run.pids_for("end") == {run.parent_pid}, run.markers


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_library_script_fails_without_spawnfix(libraries_env, tmp_path, script, start_method):
    """SPAWNFIX=0: the native failure (a crash or a hang, killed after NATIVE_HANG_SECONDS)."""
    run = _run(
        libraries_env,
        script,
        start_method,
        FILE,
        tmp_path,
        timeout=NATIVE_HANG_SECONDS,
        SPAWNFIX="0",
    )
    assert run.result.timed_out or run.result.returncode != 0, run.result.output
    assert run.result.stdout != SCRIPTS[script][0], run.result.output
    assert SCRIPTS[script][1] in run.result.stderr, run.result.output


DASK_VALUES_SEEN = "workers see the run: True\nworkers see the weights: True\n"


@pytest.mark.parametrize("invocation", (FILE, MODULE))
def test_dask_workers_see_what_main_set_in_a_user_module(libraries_env, tmp_path, invocation):
    """Guarded dask script: ``main()`` configures a user module (a run folder named by
    ``uuid``, random weights) before the Client starts its worker processes. Under fork
    the workers see that configuration; under spawn and forkserver spawnfix sends it with
    ``SPAWNFIX_VALUES=fork`` (issue 15); the script chose its start method, so by default,
    as natively, they see the module's defaults. One run folder each time."""

    def run(method: str, label: str = "", **env: str):
        work = tmp_path / (label or method)
        result = _run(libraries_env, "dask_values", method, invocation, work, **env)
        folders = list((work / "scripts" / "runs").iterdir())
        return result.result, len(folders)

    reference, folders = run("fork", SPAWNFIX="0")
    assert (reference.returncode, reference.stdout, folders) == (0, DASK_VALUES_SEEN, 1), reference
    for method in START_METHODS:
        result, folders = run(method, SPAWNFIX_VALUES="fork")
        assert (result.returncode, result.stdout, folders) == (0, DASK_VALUES_SEEN, 1), result
    native_seen = "workers see the run: False\nworkers see the weights: False\n"
    for method in START_METHODS:  # the script chose its method: spawn's children
        result, folders = run(method, f"{method}-auto")
        assert (result.returncode, result.stdout, folders) == (0, native_seen, 1), result
    native, _ = run("spawn", "native", SPAWNFIX="0")
    assert native.returncode == 0, native.output
    assert native.stdout == native_seen
