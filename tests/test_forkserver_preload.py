"""A user's forkserver children start fast (issue 12): the fork server preloads the
main script's imports, so each new worker does not import them again.

Probe scripts in ``tests/scripts/preload`` (run from a folder named site-packages: they
stand for installed libraries) import ``preload.import_marker``, which records
every process that imports it: with the preload, the parent and the fork server import
it and no worker does; with ``SPAWNFIX_PRELOAD=0`` every worker does. The output is the
same either way, also when an import starts a thread (the fork server restarts without
that module) or raises in the fork server (skipped), and a program's own preload is left
alone. The DataLoader scenario runs on real torch.
"""

from __future__ import annotations

import shutil

import pytest

from conftest import matrix_pythons
from support.corpus import CorpusRun, copy_corpus
from support.stacks import ML_PYTHON, ML_REQUIREMENTS, MlRun

FOLDER = "preload"
POOL_OUTPUT = "[0, 1, 4, 9, 16, 25]\n"


def _run(python, script, tmp_path, timeout=120, **env):
    # The probe modules stand for libraries: the program's own modules are never preloaded
    # (their top level is the program's), so the package runs from a folder named
    # site-packages on PYTHONPATH, as an installed one would.
    from support.scripts import run_python

    scripts = copy_corpus(tmp_path)
    site = scripts / "libs" / "site-packages"
    site.mkdir(parents=True)
    shutil.move(str(scripts / FOLDER), str(site / FOLDER))
    marker_file = tmp_path / "markers.txt"
    result = run_python(
        python,
        ["-m", f"{FOLDER}.{script}"],
        scripts,
        timeout=timeout,
        START_METHOD="forkserver",
        MARKER_FILE=str(marker_file),
        PYTHONPATH=str(site),
        SPAWNFIX_DEBUG="1",
        **env,
    )
    return CorpusRun(result, marker_file)


def _importers(run) -> int:
    return len(run.pids_for("imported"))


@pytest.mark.parametrize("script", ["marked", "marked_unguarded"])
def test_script_imports_are_preloaded_once(main_env, tmp_path, script):
    """Six fresh workers: the probe module is imported by the parent and the fork server
    only; without the preload, by every worker too. Same output. The scripts' folder
    (``sys.path[0]`` under ``-m``, how the fork server finds the probe) is named with the
    separators of the settings' encoding and a non-ASCII letter."""
    preloaded = _run(main_env.python, script, tmp_path / "on ;,xé")
    plain = _run(main_env.python, script, tmp_path / "off", SPAWNFIX_PRELOAD="0")
    for run in (preloaded, plain):
        assert run.result.returncode == 0 and run.result.stdout == POOL_OUTPUT, run.result.output
    imports = "multiprocessing, os, preload.import_marker"
    if script == "marked":
        imports = f"logging, {imports}"
    assert f"fork server will preload {imports}" in preloaded.result.stderr
    assert _importers(preloaded) == 2, preloaded.markers
    # The parent and at least one per task (the pool may start a spare replacement).
    assert _importers(plain) >= 7, plain.markers


def test_module_that_starts_a_thread_is_dropped(main_env, tmp_path):
    """An import that starts a thread: the fork server restarts without it, no deadlock."""
    run = _run(main_env.python, "thread_at_import", tmp_path, timeout=60)
    assert not run.result.timed_out, run.result.output
    assert run.result.stdout == POOL_OUTPUT, run.result.output
    assert "preload.starts_thread started a thread at import" in run.result.stderr
    assert "restarting the fork server without it" in run.result.stderr


def test_module_that_raises_in_the_fork_server_is_skipped(main_env, tmp_path):
    """An import that raises only in the fork server: skipped, output unchanged."""
    run = _run(main_env.python, "raises_in_fork_server", tmp_path)
    assert run.result.returncode == 0 and run.result.stdout == POOL_OUTPUT, run.result.output
    assert "skipped preloading preload.fails_in_fork_server" in run.result.stderr
    assert _importers(run) == 2, run.markers


@pytest.mark.parametrize("version", matrix_pythons())
def test_pool_workers_import_nothing_as_they_start(envs, tmp_path, version):
    """A forkserver Pool worker imports no module after its fork but its main script: the
    fork server has what a worker needs to unpickle its start (the pool, its queues and
    locks), as a fork child has it from its parent. Without spawnfix each worker imports
    them itself."""
    python = envs.get(version).python
    main = f"{FOLDER}.pool_worker_imports"
    for spawnfix, expected in (("1", False), ("0", True)):
        run = _run(python, "pool_worker_imports", tmp_path / spawnfix, SPAWNFIX=spawnfix)
        assert run.result.returncode == 0, run.result.output
        workers = set(run.result.stdout.split()[1:])
        assert workers, run.result.output
        # (the main module itself is looked up as each worker re-runs it)
        imported = {name for pid, _, name in run.markers if pid in workers} - {main}
        assert bool(imported) is expected, (imported, run.result.output)
        if expected:
            assert "multiprocessing.pool" in imported, imported


def test_programs_own_preload_is_left_alone(main_env, tmp_path):
    """set_forkserver_preload(["json"]): spawnfix adds nothing; workers import the probe."""
    run = _run(main_env.python, "own_preload", tmp_path)
    assert run.result.returncode == 0 and run.result.stdout == POOL_OUTPUT, run.result.output
    assert "fork server preload chosen by the program: left alone" in run.result.stderr
    assert _importers(run) > 2, run.markers


def test_spawnfix_off_adds_no_preload(main_env, tmp_path):
    """SPAWNFIX=0: the fork server preloads nothing of the script."""
    run = _run(main_env.python, "marked", tmp_path, SPAWNFIX="0")
    assert run.result.returncode == 0 and run.result.stdout == POOL_OUTPUT, run.result.output
    assert _importers(run) >= 7, run.markers


@pytest.fixture(scope="module")
def ml_env(envs):
    """The cached environment with torch, Lightning, wandb and spawnfix."""
    return envs.get(ML_PYTHON, ML_REQUIREMENTS)


def test_dataloader_epochs_same_batches(ml_env, tmp_path):
    """Non-persistent forkserver DataLoader workers, 4 epochs: the guarded twin's batches
    without spawnfix, with the preload on (torch preloaded), guarded and unguarded."""
    guarded_case = "loader_epochs_guarded"
    native = MlRun(ml_env, guarded_case, tmp_path / "native", SPAWNFIX="0")
    guarded = MlRun(ml_env, guarded_case, tmp_path / "guarded", SPAWNFIX_DEBUG="1")
    unguarded = MlRun(ml_env, "loader_epochs", tmp_path / "unguarded", SPAWNFIX_DEBUG="1")
    assert native.result.returncode == 0, native.result.output
    assert native.result.stdout.count("epoch") == 4, native.result.output
    for run in (guarded, unguarded):
        assert run.result.returncode == 0, run.result.output
        assert run.result.stdout == native.result.stdout, run.result.output
        assert "fork server will preload os, torch, torch.utils.data" in run.result.stderr


def test_doctor_shows_the_preload(main_env, tmp_path, repo):
    """`spawnfix doctor SCRIPT` lists the modules the fork server would preload."""
    from support.scripts import run_python

    script = repo / "tests" / "scripts" / "preload" / "thread_at_import.py"
    result = run_python(main_env.python, ["-m", "spawnfix", "doctor", str(script)], tmp_path)
    assert result.returncode == 0, result.output
    expected = "thread_at_import.py: multiprocessing, preload.import_marker, preload.starts_thread"
    assert expected in result.stdout, result.output


@pytest.mark.parametrize("script", ["marked", "marked_unguarded"])
@pytest.mark.parametrize("version", ["3.14", "3.15"])
def test_with_the_real_314_main_preload(envs, tmp_path, version, script):
    """Real 3.14/3.15, whose fork server preloads the main script itself: an unguarded
    script's fork server gets the script's imports instead (it would run the program); a
    guarded one that names forkserver chose it, and its fork server imports the script as
    natively. Either way the probe is imported by the parent and the fork server only
    (with ``SPAWNFIX_PRELOAD=0`` the workers import it again: ``python -m`` mains are not
    preloaded). Same output."""
    python = envs.get(version).python
    run = _run(python, script, tmp_path / "on")
    assert run.result.returncode == 0 and run.result.stdout == POOL_OUTPUT, run.result.output
    assert _importers(run) == 2, run.markers
    if script == "marked":
        expected = "the fork server may preload the guarded main script"
    else:
        expected = "fork server will not preload"
    assert expected in run.result.stderr, run.result.stderr
    plain = _run(python, script, tmp_path / "off", SPAWNFIX_PRELOAD="0")
    assert plain.result.returncode == 0 and plain.result.stdout == POOL_OUTPUT
    # Run with -m, whose main the standard library never preloads: the workers import it.
    assert _importers(plain) > 2, plain.markers


@pytest.mark.parametrize("version", ["3.14", "3.15"])
def test_script_that_reads_its_module_name_keeps_the_main_preload(envs, tmp_path, version):
    """An ``else:`` on the main guard: the fork server imports the script as the standard
    library does (its line is printed once, by the fork server), with and without
    spawnfix."""
    python = envs.get(version).python
    runs = [_plain_run(python, "imported_branch", tmp_path / mode, SPAWNFIX=mode) for mode in "10"]
    for run in runs:
        assert run.returncode == 0, run.output
        # The fork server's line comes first, or at its exit when its stdout is buffered.
        assert sorted(run.stdout.splitlines()) == ["[4]", "imported as __mp_main__"], run.output


def _plain_run(python, script, tmp_path, **env):
    from support.scripts import run_python

    scripts = copy_corpus(tmp_path)
    return run_python(python, [f"{FOLDER}/{script}.py"], scripts, timeout=90, **env)


@pytest.mark.parametrize("version", ["3.11", "3.14"])
def test_fork_server_is_warm_before_the_first_child(envs, tmp_path, version):
    """An unguarded script naming forkserver gets its fork server at ``import
    multiprocessing``, before any child (no extra child in ``active_children()``, same
    output, its children are not re-run); with
    ``SPAWNFIX_PRELOAD=0``, ``SPAWNFIX_WARM=0`` or ``SPAWNFIX=0`` only the first child
    starts it, as natively."""
    python = envs.get(version).python
    output = "children []\n[0, 1, 4, 9, 16, 25]\n"
    warm = _plain_run(python, "warm_named", tmp_path / "on")
    assert warm.returncode == 0 and warm.stdout == "warm True\n" + output, warm.output
    for name, env in (("preload", {"SPAWNFIX_PRELOAD": "0"}), ("warm", {"SPAWNFIX_WARM": "0"})):
        cold = _plain_run(python, "warm_named", tmp_path / name, **env)
        assert cold.returncode == 0 and cold.stdout == "warm False\n" + output, cold.output
    # Natively the unguarded script's children re-run it (a fork bomb): the guarded twin
    # shows that the standard library starts no fork server before the first child.
    native = _plain_run(python, "warm_guarded", tmp_path / "native", SPAWNFIX="0")
    assert native.stdout == "warm False\n" + output, native.output
    # The guarded script's fork server starts ahead of need too on 3.11; on 3.14, where it
    # imports the main script, a program that names forkserver gets it as natively.
    guarded = _plain_run(python, "warm_guarded", tmp_path / "guarded")
    warm_guarded = "warm True\n" if version == "3.11" else "warm False\n"
    assert guarded.returncode == 0 and guarded.stdout == warm_guarded + output, guarded.output


@pytest.mark.parametrize("version", ["3.11", "3.14", "3.15"])
def test_warm_start_leaves_the_start_method_to_the_program(envs, tmp_path, version):
    """A guarded script that calls ``set_start_method("forkserver")`` after the warm
    start: no start method is chosen yet (``get_start_method(allow_none=True)`` is None),
    and its own call succeeds, as natively (the warm start used to fix the default
    context, and the call died with "context has already been set"). On 3.14+ a program
    that names forkserver gets its fork server as natively (it imports the main script):
    no warm start, and the call succeeds too."""
    python = envs.get(version).python
    rest = "chosen None\n[0, 1, 4, 9, 16, 25]\nmethod forkserver\n"
    warm = _plain_run(python, "warm_set_method", tmp_path / "on")
    started = "warm True\n" if version == "3.11" else "warm False\n"
    assert warm.returncode == 0 and warm.stdout == started + rest, warm.output
    native = _plain_run(python, "warm_set_method", tmp_path / "native", SPAWNFIX="0")
    assert native.returncode == 0 and native.stdout == "warm False\n" + rest, native.output


@pytest.mark.parametrize("version", ["3.11", "3.14", "3.15"])
def test_default_start_method_decides_the_warm_start(envs, tmp_path, version):
    """No start method named: warm where the default is forkserver (3.14+), not on 3.11
    (fork, no fork server at all)."""
    run = _plain_run(envs.get(version).python, "warm_default", tmp_path)
    assert run.returncode == 0, run.output
    default_forkserver = version != "3.11"
    assert run.stdout.splitlines()[0] == f"warm {default_forkserver}", run.output
    method = "forkserver" if default_forkserver else "fork"
    assert run.stdout.splitlines()[-1] == f"method {method}", run.output


@pytest.mark.parametrize("version", ["3.11", "3.14"])
def test_no_fork_server_without_children_or_with_the_programs_preload(envs, tmp_path, version):
    """A script that imports multiprocessing and names forkserver but starts nothing gets
    no fork server; one that sets its own preload is left to start its fork server."""
    python = envs.get(version).python
    idle = _plain_run(python, "warm_no_children", tmp_path / "idle")
    assert idle.returncode == 0 and idle.stdout == "cpus True\nfork server None\n", idle.output
    own = _plain_run(python, "warm_own_preload", tmp_path / "own")
    assert own.returncode == 0 and own.stdout.startswith("warm False\n"), own.output


@pytest.mark.parametrize("version", ["3.11", "3.14", "3.15"])
def test_fork_server_exits_without_tearing_its_modules_down(envs, tmp_path, version):
    """The fork server of spawnfix's preload runs its exit handlers (not those a module it
    preloaded registered: test_fork_server_never_runs_a_preloaded_module_exit_handler) and
    then ends without the interpreter's teardown, which for torch holds
    the program's stdout and stderr open for about half a second after the program has
    ended. The parent exits as usual; so does a fork server the program preloaded itself
    (the teardown is seen there, so the probe does see one)."""
    python = envs.get(version).python

    def events(run) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for pid, module, event in run.markers:
            if module == "preload.exit_marker":
                found.setdefault(pid, []).append(event)
        return found

    run = _run(python, "exits", tmp_path / "spawnfix")
    assert (run.result.returncode, run.result.stdout) == (0, POOL_OUTPUT), run.result.output
    parent = run.parent_pid
    (server,) = run.pids_for("imported") - {parent}
    assert events(run)[parent] == ["imported", "exit handler", "teardown"], run.markers
    assert events(run)[server] == ["imported"], run.markers
    own = _run(python, "exits", tmp_path / "own", OWN_PRELOAD="1")
    assert own.result.returncode == 0, own.result.output
    (server,) = own.pids_for("imported") - {own.parent_pid}
    assert events(own)[server] == ["imported", "exit handler", "teardown"], own.markers


@pytest.mark.parametrize("spawnfix", ["1", "0"])
@pytest.mark.parametrize("version", ["3.11", "3.14"])
def test_fork_server_never_runs_a_preloaded_module_exit_handler(envs, tmp_path, version, spawnfix):
    """A user module that saves its cache at exit, preloaded in the fork server: the fork
    server, which exits after the program, must not save its own empty copy over the
    program's (natively no fork server imports the module of a script run with -m)."""
    python = envs.get(version).python
    cache = tmp_path / "cache.json"
    run = _run(
        python,
        "saves_at_exit",
        tmp_path,
        check_leftovers=True,
        CACHE_FILE=str(cache),
        SPAWNFIX=spawnfix,
    )
    assert (run.result.returncode, run.result.stdout) == (0, POOL_OUTPUT), run.result.output
    assert run.result.leftovers == ()
    saved = cache.read_text()
    assert saved == '{"key0": 0, "key1": 1, "key2": 2, "key3": 3, "key4": 4}', saved


@pytest.mark.parametrize("spawnfix", ["1", "0"])
@pytest.mark.parametrize("version", ["3.11", "3.14"])
def test_environment_unchanged_with_a_long_sys_path(envs, tmp_path, version, spawnfix):
    """A forkserver Pool leaves the program's os.environ as it was (the fork server's
    settings travel on its command line), also with a 104 KB sys.path; a subprocess
    started afterwards runs."""
    python = envs.get(version).python
    run = _run(python, "environment_kept", tmp_path, SPAWNFIX=spawnfix)
    assert run.result.returncode == 0, run.result.output
    assert run.result.stdout == f"{POOL_OUTPUT}environment changed: []\nsubprocess ran\n", (
        run.result.output
    )
