"""A child's re-run and its values never destroy or duplicate anything of the parent's
(issue 29): each script runs under fork without spawnfix (the reference: these scripts
are unguarded, written for fork) and under spawn and forkserver with it, with the same
result; with ``SPAWNFIX=0`` they cannot run under spawn at all."""

from __future__ import annotations

import pytest

from conftest import matrix_pythons
from support.corpus import FILE, run_corpus
from support.scripts import NATIVE_HANG_SECONDS

FOLDER = "child_safety"
# An installed-looking library folder (its name is site-packages) inside the scripts' copy.
SCRIPTS_COPY_LIBS = "child_safety/libs/site-packages"


def _at_least(version: str, minimum: tuple) -> bool:
    return tuple(int(part) for part in version.split(".")) >= minimum


def _run(python, script, method, tmp_path, **env):
    run = run_corpus(python, script, method, FILE, tmp_path, folder=FOLDER, timeout=120, **env)
    return run.result


def _assert_as_under_fork(python, script, method, tmp_path, expected, **env):
    """The script under fork without spawnfix prints ``expected`` (the reference), and
    under ``method`` with spawnfix the same."""
    reference = _run(python, script, "fork", tmp_path / "fork", SPAWNFIX="0")
    assert (reference.returncode, reference.stdout) == (0, expected), reference.output
    result = _run(python, script, method, tmp_path / method, SPAWNFIX="quiet", **env)
    assert (result.returncode, result.stdout) == (0, expected), result.output
    return result


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
def test_a_child_never_finalises_the_parents_objects(envs, tmp_path, version, method):
    """A global whose ``__del__`` removes its folder: workers that end after each task
    leave the parent's folder in place, as fork's workers do."""
    python = envs.get(version).python
    _assert_as_under_fork(
        python, "workspace_deleted", method, tmp_path, "[0, 1, 2, 3]\nparent's file kept: True\n"
    )


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
def test_a_child_never_runs_the_parents_exit_handlers(envs, tmp_path, version, method):
    """An exit handler registered at the top level: only the parent runs it, once, with
    the parent's cache, as under fork."""
    python = envs.get(version).python
    for label, start, env in (("fork", "fork", {"SPAWNFIX": "0"}), (method, method, {})):
        result = _run(python, "saves_at_exit_in_children", start, tmp_path / label, **env)
        assert (result.returncode, result.stdout) == (0, "[0, 1, 4, 9]\n"), result.output
        saves = (tmp_path / label / "scripts" / "saves.log").read_text()
        assert saves == '{"answer": 42}\n', (label, saves)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
def test_the_parents_open_files_are_shared_not_changed(envs, tmp_path, version, method):
    """A status file the parent rewrites in place holds one document (spawnfix no longer
    sets O_APPEND on the parent's descriptor); a log the parent and its workers write
    keeps every line (they share the parent's file offset, as under fork)."""
    python = envs.get(version).python
    for script in ("status_rewritten", "shared_log"):
        reference = _run(python, script, "fork", tmp_path / f"{script}-fork", SPAWNFIX="0")
        assert reference.returncode == 0, reference.output
        result = _run(python, script, method, tmp_path / script, SPAWNFIX="quiet")
        assert (result.returncode, result.stdout) == (0, reference.stdout), result.output
    assert reference.stdout.count("worker: task") == 4, reference.output


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
@pytest.mark.parametrize(
    "script",
    [
        "rotating_handler",
        "tee_stdout",
        "basicconfig_force",
        "scratch_file_removed",
        "mapped_and_temporary",
    ],
)
def test_files_the_rerun_opens_again_get_the_workers_records(
    envs, tmp_path, version, method, script
):
    """A file the re-run opens again for writing (a tee, a RotatingFileHandler, a forced
    basicConfig in "w" mode) is kept, never truncated, and silent until the re-run ends:
    every worker's record arrives once and none overwrites another, as under fork (issue
    29, finding 1; the statement used to be refused: no worker record at all). A scratch
    file the parent removed is not made again; a file open "r+b" and mapped, and a
    ``TemporaryFile``, reach the workers (finding 3: their names used to be missing)."""
    python = envs.get(version).python
    reference = _run(python, script, "fork", tmp_path / "fork", SPAWNFIX="0")
    assert reference.returncode == 0, reference.output
    if script == "scratch_file_removed":  # a file the parent removed is not made again
        assert reference.stdout.endswith("scratch left: False\n"), reference.output
    elif script == "mapped_and_temporary":
        expected = "[('abcd', 'scratch'), ('efgh', 'scratch')]\ndata.bin unchanged: True\n"
        assert reference.stdout == expected, reference.output
    else:
        assert reference.stdout.count("worker") >= 3, reference.output
    result = _run(python, script, method, tmp_path / method, SPAWNFIX="quiet")
    assert result.returncode == 0, result.output
    # Workers print in any order: the same lines.
    assert sorted(result.stdout.splitlines()) == sorted(reference.stdout.splitlines()), (
        result.output
    )


@pytest.mark.parametrize("thread_queue", ["", "1"], ids=["multiprocessing-queue", "thread-queue"])
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
def test_queue_logging_delivers_every_worker_record(envs, tmp_path, version, method, thread_queue):
    """The logging cookbook's queue pattern (issue 29, finding 9): the parent's
    QueueHandler on a multiprocessing queue reaches the workers whole (class and
    attributes, without its lock); one on a thread queue cannot, and its logger is then
    left to the program, whose own set-up runs. Same records as with ``SPAWNFIX=0``
    (spawnfix used to send the logger without its handler: no record at all)."""
    python = envs.get(version).python

    def records(label, **env):
        result = _run(
            python, "queue_logging", method, tmp_path / label, THREAD_QUEUE=thread_queue, **env
        )
        assert result.returncode == 0, result.output
        return sorted(result.stdout.splitlines())

    expected = ["exit codes [0, 0, 0]"] + [f"worker: worker record {n}" for n in range(3)]
    assert records("native", SPAWNFIX="0") == expected
    assert records("spawnfix") == expected


def test_the_unguarded_scripts_cannot_run_natively(main_env, tmp_path):
    """``SPAWNFIX=0`` under spawn: the bootstrapping error (the pool hangs, killed)."""
    result = run_corpus(
        main_env.python,
        "workspace_deleted",
        "spawn",
        FILE,
        tmp_path,
        folder=FOLDER,
        timeout=NATIVE_HANG_SECONDS,
        SPAWNFIX="0",
    ).result
    assert result.timed_out, result.output
    assert "bootstrapping phase" in result.stderr, result.output


@pytest.mark.parametrize("spawnfix", ["1", "0"])
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", ["3.11", "3.14"])
def test_workers_of_another_interpreter_start_as_natively(
    envs, tmp_path, version, method, spawnfix
):
    """``set_executable()`` to an interpreter without spawnfix: nothing of spawnfix's goes
    into its children's preparation data, so they start (on the old code every worker
    died with ModuleNotFoundError: No module named 'spawnfix')."""
    python = envs.get(version).python
    other = envs.get(version, with_spawnfix=False).python
    result = _run(
        python, "other_interpreter", method, tmp_path, WORKER_PYTHON=other, SPAWNFIX=spawnfix
    )
    assert (result.returncode, result.stdout) == (0, "[0, 1, 4, 9]\n"), result.output


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", ["3.11", "3.14"])
def test_a_library_call_that_sets_the_environment_is_not_lost(envs, tmp_path, version, method):
    """mlflow.set_tracking_uri's shape (an installed library sets an environment variable
    and then its own state at the top level): the child's re-run sets the variable to the
    value it already has, which is allowed, so the library's state is set too, as under
    fork (the refused variable cost the whole call before)."""
    python = envs.get(version).python
    library = SCRIPTS_COPY_LIBS
    expected = (
        "['sqlite:///mlflow.db <- 0', 'sqlite:///mlflow.db <- 1', 'sqlite:///mlflow.db <- 2']\n"
    )
    for label, start, env in (("fork", "fork", {"SPAWNFIX": "0"}), (method, method, {})):
        work = tmp_path / label
        result = _run(
            python, "tracking_uri", start, work, PYTHONPATH=str(work / "scripts" / library), **env
        )
        assert (result.returncode, result.stdout) == (0, expected), result.output


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
def test_user_modules_run_their_top_level_once(envs, tmp_path, version, method):
    """A user module that prints a banner and opens run.log with "w" at import (issue 29,
    finding 10): a child that gets the parent's values imports it without effects, and
    the fork server does not preload it, so there is one banner and run.log keeps the
    parent's lines, as under fork (spawnfix used to truncate the parent's lines away in
    every child, and its fork server printed the banner again)."""
    python = envs.get(version).python
    _assert_as_under_fork(
        python,
        "module_effects",
        method,
        tmp_path,
        (
            "importing module_effects_lib\n"
            "run.log: parent end|parent start|worker 0|worker 1|worker 2\n"
        ),
    )


@pytest.mark.parametrize("version", [v for v in matrix_pythons() if _at_least(v, (3, 14))])
def test_a_program_on_the_default_forkserver_imports_user_modules_once(envs, tmp_path, version):
    """The same module in a guarded program on the start method it did not choose
    (forkserver, the default since 3.14): natively the fork server imports the script and
    the module again (two banners, the parent's log truncated); with spawnfix, fork's
    result."""
    python = envs.get(version).python
    native = _run(python, "module_effects_guarded", "default", tmp_path / "native", SPAWNFIX="0")
    assert native.returncode == 0, native.output
    assert native.stdout.count("importing module_effects_lib") == 2, native.output
    assert "parent start" not in native.stdout, native.output
    result = _run(python, "module_effects_guarded", "default", tmp_path / "spawnfix")
    expected = (
        "importing module_effects_lib\n"
        "run.log: parent end|parent start|worker 0|worker 1|worker 2\n"
    )
    assert (result.returncode, result.stdout) == (0, expected), result.output


@pytest.mark.parametrize("spawnfix", ["1", "0"])
@pytest.mark.parametrize("version", ["3.11", "3.14"])
def test_a_program_that_chose_spawn_imports_user_modules_as_natively(
    envs, tmp_path, version, spawnfix
):
    """A guarded program whose start method is read from a variable (forkserver by
    default, spawn here) gets spawn's children: each imports the user module as natively
    (a banner each, three in all), and the fork server spawnfix starts ahead of need does
    not import it (it used to: a fourth banner, when it got that far)."""
    python = envs.get(version).python
    result = _run(python, "module_effects_chosen", "spawn", tmp_path, SPAWNFIX=spawnfix)
    assert result.returncode == 0, result.output
    assert result.stdout.count("importing module_effects_lib") == 3, result.output
    assert "[0, 1, 4]" in result.stdout.splitlines(), result.output


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
def test_a_user_modules_state_arrives_whole_or_not_at_all(envs, tmp_path, version, method):
    """main() sets a user module's flag and its sqlite connection, which cannot be sent
    (issue 29, finding 4): with the parent's values forced (``SPAWNFIX_VALUES=fork``) the
    module is the child's own import, flag and connection alike, as natively; spawnfix
    used to send the flag alone (AttributeError: 'NoneType' object has no attribute
    'execute')."""
    python = envs.get(version).python
    expected = "['not ready', 'not ready']\n"
    native = _run(python, "half_state", method, tmp_path / "native", SPAWNFIX="0")
    assert (native.returncode, native.stdout) == (0, expected), native.output
    result = _run(python, "half_state", method, tmp_path / "fork-values", SPAWNFIX_VALUES="fork")
    assert (result.returncode, result.stdout) == (0, expected), result.output


@pytest.mark.parametrize("version", [v for v in matrix_pythons() if _at_least(v, (3, 14))])
def test_a_user_modules_state_on_the_default_forkserver(envs, tmp_path, version):
    """The same program on the default start method (forkserver, not chosen: fork's values
    apply): natively and with spawnfix the module is the child's own."""
    python = envs.get(version).python
    for label, env in (("native", {"SPAWNFIX": "0"}), ("spawnfix", {})):
        result = _run(python, "half_state", "default", tmp_path / label, **env)
        assert (result.returncode, result.stdout) == (0, "['not ready', 'not ready']\n"), (
            result.output
        )


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
def test_sending_values_runs_no_code_of_the_program_in_the_parent(envs, tmp_path, version, method):
    """A global whose ``__getstate__`` pops an attribute from the live object (issue 29,
    finding 7): it is not pickled (the child computes it), so the parent keeps its
    attribute, as under fork; spawnfix used to pickle it at every start (AttributeError
    in the parent)."""
    python = envs.get(version).python
    _assert_as_under_fork(
        python, "reducer_in_parent", method, tmp_path, "[3, 4, 5]\nparent's cache: {'a': 1}\n"
    )


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
def test_a_fork_written_workers_main_module_is_named_main(envs, tmp_path, version, method):
    """A worker of an unguarded script sees ``__name__ == "__main__"`` (a
    ``getLogger(__name__)`` made in it, loguru's ``{name}``), as under fork (issue 29,
    finding 11: it used to be ``__mp_main__``); a guarded program that chose its start
    method keeps spawn's ``__mp_main__``, natively and with spawnfix."""
    python = envs.get(version).python
    reference = _run(python, "module_name", "fork", tmp_path / "fork", SPAWNFIX="0")
    assert (reference.returncode, reference.stdout) == (0, "['__main__ __main__']\n")
    result = _run(python, "module_name", method, tmp_path / method, SPAWNFIX="quiet")
    assert (result.returncode, result.stdout) == (0, reference.stdout), result.output
    for label, env in (("native", {"SPAWNFIX": "0"}), ("chosen", {})):
        chosen = _run(python, "module_name_chosen", method, tmp_path / label, **env)
        assert (chosen.returncode, chosen.stdout) == (0, "['__mp_main__ __mp_main__']\n"), (
            chosen.output
        )


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
def test_a_queue_filled_at_the_top_level_is_filled_once(envs, tmp_path, version, method):
    """A top-level helper that fills a global multiprocessing Queue (issue 29, finding 13):
    the child's re-run gets the parent's queue and does not fill it again: 5 tasks
    processed, as under fork."""
    python = envs.get(version).python
    _assert_as_under_fork(python, "queue_filled", method, tmp_path, "5 [0, 1, 2, 3, 4]\n")


_SHARED_RESOURCE_OUTPUT = {
    "database_connected": "[(1, 1), (1, 1), (1, 1)]\nrows: 1 keys: 1\n",
    "named_temporary": (
        "[('shared text', True), ('shared text', True)]\n"
        "still there: True\nremoved on close: True\n"
    ),
}


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
@pytest.mark.parametrize("script", sorted(_SHARED_RESOURCE_OUTPUT))
def test_databases_and_named_temporary_files_in_globals_reach_the_workers(
    envs, tmp_path, version, method, script
):
    """Issue 29, finding 3: ``conn = sqlite3.connect("data.db")`` with a table made and a
    row added at the top level, and a ``shelve`` (an sqlite database since 3.13): the
    re-run connects again, read-only until it ends, so the workers have both and neither
    the row nor the key is added again; a ``NamedTemporaryFile`` arrives as the parent's
    file under its name and is removed once, by the parent. As under fork (the connection
    and the temporary file used to be refused: NameError in every worker)."""
    python = envs.get(version).python
    _assert_as_under_fork(python, script, method, tmp_path, _SHARED_RESOURCE_OUTPUT[script])


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
def test_a_loop_that_only_computes_the_parents_values_is_not_rerun(envs, tmp_path, version, method):
    """Issue 29, "no wasted work in children": a top-level loop that binds only names the
    parent sends and calls only pure builtins and methods of those values is not run in a
    child (its names get the parent's values; the decision is logged); a loop that also
    calls a library (``random.seed``) runs, as before. Output as under fork."""
    python = envs.get(version).python
    expected = "[(0, 100000, [0, 1, 2], 0), (0, 100000, [0, 1, 2], 1)]\n"
    result = _assert_as_under_fork(
        python, "loop_computed", method, tmp_path, expected, SPAWNFIX_DEBUG="1"
    )
    assert "the statement at line 9 only computes the parent's values" in result.stderr
    assert "the statement at line 14 only computes" not in result.stderr


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
def test_a_user_modules_registry_filled_at_the_top_level_counts_once(
    envs, tmp_path, version, method
):
    """Issue 29, finding 2 for user modules: ``registry_lib.register("a")`` at the top
    level changes a user module's global the parent sends; the child's re-run runs it
    again, so the module's globals that function uses are bound afresh from the parent's
    afterwards: each entry once, as under fork (each was there twice)."""
    python = envs.get(version).python
    _assert_as_under_fork(
        python, "registry_in_module", method, tmp_path, "[['a', 'b', 'c'], ['a', 'b', 'c']]\n"
    )


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
def test_a_thread_the_rerun_starts_is_refused_effects_too(envs, tmp_path, version, method):
    """A top-level statement that starts a thread rewriting a file and waits for it: while
    the main script's re-run refuses a statement's effects, every thread's are refused
    (only a user module's import after the re-run refuses its own thread's alone), so the
    child's thread does not rewrite the parent's file, as under fork."""
    python = envs.get(version).python
    _assert_as_under_fork(python, "thread_at_top_level", method, tmp_path, "beat from the parent\n")
