"""Workers configured like the parent (issue 19): logging and warnings as under fork,
for programs written for fork (issue 29: a program that chose spawn keeps spawn's).

A guarded script configures logging or warnings in ``main()`` (CASE), then a Pool's
workers log and warn. The script names its start method, so it gets fork's configuration
only with ``SPAWNFIX_VALUES=fork``: then under spawn and forkserver, stdout, stderr and
the log file left behind are those of the same script under fork; with ``SPAWNFIX=0`` the
workers' records are lost or their warnings printed (asserted), except where the child's
own configuration (a Pool initializer) decides, which is the same with and without.
Without the setting its workers are spawn's, as natively. The unguarded twin (``main()``
called at top level) gives fork's output; many processes logging into one file never
interleave inside a line.
"""

from __future__ import annotations

import pytest

from conftest import matrix_pythons
from support.corpus import FILE, run_corpus
from support.scripts import NATIVE_HANG_SECONDS

FOLDER = "worker_config"
# case -> whether the native spawn run differs from fork (the loss spawnfix repairs)
CASES = {
    "file": True,
    "stdout_format": True,
    "disable": True,
    "ignore_warnings": True,
    "error_warnings": True,
    "initializer_wins": False,
}


def _observed(run, folder) -> tuple:
    """What a user sees: stdout and stderr (order across workers and the run's folder
    normalised), exit code."""
    result = run.result

    def lines(text: str) -> list[str]:
        return sorted(text.replace(str(folder), "<run>").splitlines())

    return result.returncode, lines(result.stdout), lines(result.stderr)


def _observe(python: str, script: str, case: str, method: str, folder, **env: str) -> tuple:
    """One run of ``worker_config/<script>.py`` with ``CASE=case``, as ``_observed``."""
    completed = run_corpus(python, script, method, FILE, folder, folder=FOLDER, CASE=case, **env)
    return _observed(completed, folder)


def _assert_spawn_and_forkserver_match_fork(run) -> tuple:
    """The fork run (SPAWNFIX=0) succeeds and spawn and forkserver give what it gave."""
    reference = run("fork", "fork", SPAWNFIX="0")
    assert reference[0] == 0, reference
    for method in ("spawn", "forkserver"):
        assert run(method, method, SPAWNFIX_VALUES="fork") == reference, method
    return reference


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("version", matrix_pythons())
def test_workers_log_and_warn_as_under_fork(envs, tmp_path, version, case):
    """spawn and forkserver with spawnfix = fork; SPAWNFIX=0 under spawn loses it."""
    python = envs.get(version).python

    def run(method: str, name: str, **env: str):
        return _observe(python, "configured_main", case, method, tmp_path / name, **env)

    reference = _assert_spawn_and_forkserver_match_fork(run)
    native = run("spawn", "native", SPAWNFIX="0")
    assert native[0] == 0, native
    if CASES[case]:
        assert native != reference, native
    else:
        assert native == reference, native


def test_records_from_workers_append_to_the_parents_file(envs, tmp_path):
    """``basicConfig(filename=..., filemode="w")`` in the parent: workers append, the
    parent's first record is still there (never truncated)."""
    run = run_corpus(
        envs.get("3.11").python,
        "configured_main",
        "spawn",
        FILE,
        tmp_path,
        folder=FOLDER,
        CASE="file",
        SPAWNFIX_VALUES="fork",
    )
    line = next(line for line in run.result.stdout.splitlines() if line.startswith("train.log:"))
    assert "'INFO:train:starting'" in line, run.result.output
    assert line.count("worker handles") == 3, run.result.output


@pytest.mark.parametrize("version", matrix_pythons())
def test_forkserver_child_sees_the_parents_environment(envs, tmp_path, version):
    """``os.environ`` changed after the fork server started (a variable set, one removed):
    a later forkserver child sees it as fork and spawn children do; natively it gets the
    environment the fork server started with."""
    python = envs.get(version).python
    expected = "child sees None present\nchild sees run-42 None\n"

    def run(method: str, name: str, **env: str) -> str:
        completed = run_corpus(
            python, "environment_later", method, FILE, tmp_path / name, folder=FOLDER, **env
        )
        assert completed.result.returncode == 0, completed.result.output
        return completed.result.stdout

    native = "child sees None present\n" * 2
    assert run("fork", "fork", SPAWNFIX="0") == expected
    assert run("forkserver", "on", SPAWNFIX_VALUES="fork") == expected
    assert run("forkserver", "off", SPAWNFIX="0") == native
    # The program chose forkserver itself: its children get what they get natively.
    assert run("forkserver", "chosen") == native


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_records_of_many_processes_never_interleave_inside_a_line(envs, tmp_path, method):
    """The parent and four workers log 200 long records each into one file at once: all
    1000 lines intact, as under fork; ``SPAWNFIX=0`` keeps only the parent's 200."""
    python = envs.get("3.11").python
    run = run_corpus(
        python, "many_writers", method, FILE, tmp_path, folder=FOLDER, SPAWNFIX_VALUES="fork"
    )
    assert run.result.returncode == 0, run.result.output
    assert run.result.stdout == "lines 1000 intact 1000\n"
    if method != "fork":
        native = run_corpus(
            python, "many_writers", method, FILE, tmp_path / "native", folder=FOLDER, SPAWNFIX="0"
        )
        assert native.result.stdout == "lines 200 intact 200\n", native.result.output


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("version", matrix_pythons())
def test_unguarded_workers_log_and_warn_as_under_fork(envs, tmp_path, version, case):
    """The same program with its ``main()`` called at top level, no guard: spawn and
    forkserver with spawnfix = fork (natively it never gets a working worker: the last
    test of this module)."""
    python = envs.get(version).python

    def run(method: str, name: str, **env: str):
        env = {"SPAWNFIX": "quiet", **env}
        return _observe(python, "unguarded_configured", case, method, tmp_path / name, **env)

    _assert_spawn_and_forkserver_match_fork(run)


def test_unguarded_configured_program_fails_natively(envs, tmp_path):
    """``SPAWNFIX=0``: the unguarded Pool's spawn workers die re-running ``main()``."""
    run = run_corpus(
        envs.get("3.11").python,
        "unguarded_configured",
        "spawn",
        FILE,
        tmp_path,
        folder=FOLDER,
        timeout=NATIVE_HANG_SECONDS,
        CASE="file",
        SPAWNFIX="0",
    )
    assert run.result.timed_out, run.result.output
    assert "bootstrapping phase" in run.result.stderr


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", ["3.11", "3.14"])
def test_a_program_that_chose_spawn_configures_its_workers_itself(envs, tmp_path, version, method):
    """A guarded program that chose its start method (issue 29's scope): the parent's root
    has a NullHandler and, before the second child, turns warnings into errors and sets a
    variable; each child calls its own ``basicConfig(filename=...)``. As natively: the
    child's basicConfig takes effect (its log file holds its record) and its warning does
    not raise (spawnfix used to send the parent's handlers and filters: no log file, and
    the warning raised). The environment is spawn's: the parent's at ``start()`` under
    spawn, the fork server's under forkserver."""
    python = envs.get(version).python

    def run(name: str, **env: str) -> str:
        completed = run_corpus(
            python, "child_configures", method, FILE, tmp_path / name, folder=FOLDER, **env
        )
        assert completed.result.returncode == 0, completed.result.output
        return completed.result.stdout

    native = run("native", SPAWNFIX="0")
    assert "second: warning did not raise" in native, native
    assert (
        "worker.log: ['ERROR:root:BOOM from child first', 'ERROR:root:BOOM from child second']"
        in native
    )
    assert run("spawnfix") == native
