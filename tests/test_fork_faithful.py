"""Children that are copies of the parent (issue 15), compared with ``fork`` on everything
observable: exit code, stdout, stderr and the files and folders left behind.

- ``unguarded_effects``: top-level prints, a run folder named by ``uuid``, ``rmtree`` of an
  output folder, a log and a CSV opened with ``"w"``, ``basicConfig(filemode="w")``, a
  dataset built and cached to disk, random weights, an environment variable, then a
  ``Pool(maxtasksperchild=1)``. spawn and forkserver with spawnfix = fork. Without the
  parent's values (``SPAWNFIX_VALUES=0``, spawnfix's earlier behaviour) each effect is
  repeated or lost (asserted line by line); with ``SPAWNFIX=0`` the script fails.
- ``guarded_values``: globals changed under the guard and in ``main()``, a user module's
  globals, a ``Queue`` made in ``main()``, a function defined twice. With ``SPAWNFIX=0``
  the children see the import-time values (asserted).
- ``unittest_manager``: a ``Manager().dict()`` global made in ``setUp`` (CPython #128145).
- ``library_values``: the same for the ``multiprocess`` and ``billiard`` forks;
  ``other_starts``: for a ``ProcessPoolExecutor``, a Pool started from a thread and a
  grandchild.
- ``terminated_while_starting``: a Pool terminated while a worker is still in its re-run
  leaves no semaphore behind.
- ``loop_site``: a ``for`` loop whose body calls a user module's helper before its Pool:
  the workers do not run the loop's body again on their way to it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import matrix_pythons
from support.corpus import FILE, MODULE, run_corpus
from support.scripts import NATIVE_HANG_SECONDS, SCRIPTS, run_python

FOLDER = "fork_faithful"
_RANDOM_ID = re.compile(r"[0-9a-f]{32}")


def left_behind(scripts: Path) -> dict[str, str]:
    """What a run created beside the scripts: relative path -> "<folder>" or the file's
    lines, sorted (records of several processes arrive in any order), ids normalised."""
    original = {path.relative_to(SCRIPTS) for path in SCRIPTS.rglob("*")}
    found = {}
    for path in sorted(scripts.rglob("*")):
        relative = path.relative_to(scripts)
        if relative in original or "__pycache__" in relative.parts:
            continue
        key = _RANDOM_ID.sub("<id>", relative.as_posix())
        if path.is_dir():
            found[key] = "<folder>"
        else:
            lines = path.read_bytes().decode("utf-8", "replace").splitlines()
            found[key] = "\n".join(sorted(lines))
    return found


def times(lines: list[str], text: str) -> int:
    """How often ``text`` was printed: processes printing at once can share a line."""
    return "\n".join(lines).count(text)


def observe(python: str, script: str, method: str, tmp_path: Path, invocation=FILE, **env):
    """Exit code, stdout and stderr lines, files left behind, for one run."""
    run = run_corpus(python, script, method, invocation, tmp_path, folder=FOLDER, timeout=90, **env)
    result = run.result
    return {
        "exit": result.returncode,
        "stdout": _RANDOM_ID.sub("<id>", result.stdout).splitlines(),
        "stderr": result.stderr.splitlines(),
        "files": left_behind(tmp_path / "scripts"),
    }


@pytest.mark.parametrize("invocation", [FILE, MODULE])
@pytest.mark.parametrize("version", matrix_pythons())
def test_unguarded_children_never_redo_the_parents_top_level_work(
    envs, tmp_path, version, invocation
):
    """spawn and forkserver = fork: nothing printed twice, no stray run folder, no file
    truncated or deleted, the same weights, run id and environment in every worker (run
    as a file and with ``-m``)."""
    python = envs.get(version).python

    def seen(method: str, **env: str) -> dict:
        return observe(python, "unguarded_effects", method, tmp_path / method, invocation, **env)

    reference = seen("fork", SPAWNFIX="0")
    assert reference["exit"] == 0, reference
    assert reference["stdout"].count("weights: same=True model: one list=True") == 4, reference
    for method in ("spawn", "forkserver"):
        assert seen(method, SPAWNFIX="quiet") == reference, method


def test_without_the_parents_values_each_effect_is_repeated_or_lost(envs, tmp_path):
    """The same script with spawnfix's earlier re-run (``SPAWNFIX_VALUES=0``): every
    effect the corpus checks goes wrong, so each line of the comparison above is earned."""
    python = envs.get("3.11").python
    reference = observe(python, "unguarded_effects", "fork", tmp_path / "fork", SPAWNFIX="0")
    before = observe(
        python,
        "unguarded_effects",
        "spawn",
        tmp_path / "before",
        SPAWNFIX="quiet",
        SPAWNFIX_VALUES="0",
    )
    assert times(before["stdout"], "banner: on stdout") > 1
    assert times(before["stdout"], "helper: ready") > 1
    assert times(before["stdout"], "dataset: building") > 1
    assert times(before["stderr"], "banner: on stderr") > 1
    assert "weights: same=True" not in "\n".join(before["stdout"]) or before["exit"] != 0
    # Counted on disk: a replacement worker's rmtree of out/ can kill the run (one of the
    # effects) before it prints its own count.
    run_folders = list((tmp_path / "before" / "scripts" / "runs").iterdir())
    assert len(run_folders) > 1, run_folders
    for name in ("run.log", "results.csv", "train.log"):
        assert before["files"].get(name) != reference["files"][name], name


@pytest.mark.parametrize("invocation", [FILE, MODULE])
@pytest.mark.parametrize(("version", "method"), [("3.11", "spawn"), ("3.14", "forkserver")])
def test_unguarded_effects_fail_natively(envs, tmp_path, version, method, invocation):
    """``SPAWNFIX=0``: the unguarded Pool never gets a working worker (it hangs), under
    spawn and, on 3.14, under forkserver (its default)."""
    python = envs.get(version).python
    run = run_corpus(
        python,
        "unguarded_effects",
        method,
        invocation,
        tmp_path / method,
        folder=FOLDER,
        timeout=NATIVE_HANG_SECONDS,
        SPAWNFIX="0",
    )
    assert run.result.timed_out or run.result.returncode != 0, run.result


@pytest.mark.parametrize("version", ["3.11", "3.14"])
def test_pool_terminated_while_a_worker_starts_leaks_no_semaphore(envs, tmp_path, version):
    """The parent terminates a Pool whose second worker is held in its re-run just after
    that re-run registered a Pool's semaphores (the script waits for the SIGTERM): under
    spawn and forkserver, fork's output and an empty stderr, no "leaked semaphore
    objects" (the worker releases them before SIGTERM ends it). ``SPAWNFIX=0`` hangs."""
    python = envs.get(version).python
    script = "terminated_while_starting"
    reference = observe(python, script, "fork", tmp_path / "fork", SPAWNFIX="0")
    assert reference["exit"] == 0 and reference["stdout"] == ["[1, 4, 9]"], reference
    assert reference["stderr"] == [], reference
    for method in ("spawn", "forkserver"):
        assert observe(python, script, method, tmp_path / method, SPAWNFIX="quiet") == reference
    native = run_corpus(
        python,
        script,
        "spawn",
        FILE,
        tmp_path / "native",
        folder=FOLDER,
        timeout=NATIVE_HANG_SECONDS,
        SPAWNFIX="0",
    )
    assert native.result.timed_out, native.result.output
    assert "bootstrapping phase" in native.result.stderr, native.result.output


def _spawnfix_matches_fork(seen, fork_stdout: list[str]) -> dict:
    """The fork run (``SPAWNFIX=0``) prints ``fork_stdout``; spawn and forkserver with
    spawnfix give all it gave. Returns the spawn run without the parent's values
    (``SPAWNFIX_VALUES=0``), whose banner shows more than once."""
    reference = seen("fork", "fork", SPAWNFIX="0")
    assert reference["exit"] == 0 and reference["stdout"] == fork_stdout, reference
    for method in ("spawn", "forkserver"):
        assert seen(method, method, SPAWNFIX="quiet") == reference, method
    before = seen("spawn", "before", SPAWNFIX="quiet", SPAWNFIX_VALUES="0")
    assert times(before["stdout"], "banner: once") > 1, before
    return before


@pytest.mark.parametrize("version", ["3.11", "3.14"])
def test_executor_thread_and_grandchild_get_the_parents_values(envs, tmp_path, version):
    """A ProcessPoolExecutor worker, a Pool started from a thread and a grandchild all see
    the parent's run id, and the banner shows once, as under fork; without the values each
    computes its own; ``SPAWNFIX=0``: BrokenProcessPool."""
    python = envs.get(version).python

    def seen(method: str, name: str, **env: str) -> dict:
        return observe(python, "other_starts", method, tmp_path / name, **env)

    before = _spawnfix_matches_fork(
        seen,
        [
            "banner: once",
            "executor: parent's run id True",
            "thread's pool: parent's run id True",
            "grandchild: parent's run id True",
        ],
    )
    assert not any(line.endswith("True") for line in before["stdout"]), before
    native = seen("spawn", "native", SPAWNFIX="0")
    assert native["exit"] != 0 and "BrokenProcessPool" in "\n".join(native["stderr"]), native


@pytest.mark.parametrize("library", ["multiprocess", "billiard"])
def test_children_of_multiprocessing_forks_get_the_parents_values(envs, tmp_path, library):
    """``multiprocess`` and ``billiard`` (unguarded Pool): the banner once, the parent's
    run id and weights in every worker, the file opened with "w" written once, as under
    fork. Without the values the children redo all three; ``SPAWNFIX=0`` hangs."""
    from support.stacks import LIBRARIES, LIBRARIES_PYTHON

    python = envs.get(LIBRARIES_PYTHON, LIBRARIES).python

    def seen(method: str, name: str, **env: str) -> dict:
        return observe(python, "library_values", method, tmp_path / name, LIBRARY=library, **env)

    before = _spawnfix_matches_fork(
        seen, ["banner: once", "workers saw the parent's run id and weights: True"]
    )
    assert "workers saw the parent's run id and weights: False" in before["stdout"], before
    native = run_corpus(
        python,
        "library_values",
        "spawn",
        FILE,
        tmp_path / "native",
        folder=FOLDER,
        timeout=NATIVE_HANG_SECONDS,
        LIBRARY=library,
        SPAWNFIX="0",
    )
    assert native.result.timed_out, native.result.output
    assert "bootstrapping phase" in native.result.stderr, native.result.output


GUARDED_FORK_OUTPUT = [
    "banner: module level",
    "first describe(process) scale=10 labels=['cat', 'dog'] name=set in main "
    "mode=fast limits={'depth': 3} one list=True in table=True pair=True module alias=True",
    "[(0, 'second describe(0)'), (10, 'second describe(1)'), (40, 'second describe(2)')]",
]


@pytest.mark.parametrize("invocation", [FILE, MODULE])
@pytest.mark.parametrize("version", matrix_pythons())
def test_guarded_children_see_the_parents_values(envs, tmp_path, version, invocation):
    """Globals set under the guard and in ``main()``, a user module's globals, a queue and
    a second name for a list reach the children; an object that several globals hold
    (a list inside a dict, two dicts holding each other, one dict under two names of a
    user module) is one object there too; the Process runs the definition the parent had
    at ``start()``. Here the program chose spawn and forkserver itself, and
    ``SPAWNFIX_VALUES=fork`` asks for fork's values anyway (the mechanism); by default
    such a program keeps spawn's children (test_guarded_program_that_chose_spawn_...)."""
    python = envs.get(version).python

    def seen(method: str, **env: str) -> dict:
        return observe(python, "guarded_values", method, tmp_path / method, invocation, **env)

    reference = seen("fork", SPAWNFIX="0")
    assert reference["exit"] == 0, reference
    assert reference["stdout"] == GUARDED_FORK_OUTPUT
    assert seen("spawn", SPAWNFIX_VALUES="fork") == reference
    # On 3.14+ the fork server gets the script's imports, not the script: its top level
    # (the banner) does not run there a second time.
    assert seen("forkserver", SPAWNFIX_VALUES="fork") == reference


BANNER = "banner: module level"


def _without_banners(run: dict) -> list[str]:
    # Children print their banners at once: lines may run together.
    text = "\n".join(run["stdout"]).replace(BANNER, "\n")
    return sorted(line for line in text.splitlines() if line.strip())


def _native_spawn_children(run: dict) -> None:
    # Each child imports the script (its banner, in any order) and computes its own
    # globals: the Process finds no queue, the workers see the import-time scale of 1.
    assert "\n".join(run["stdout"]).count(BANNER) > 1, run
    assert _without_banners(run) == [
        "[(0, 'second describe(0)'), (1, 'second describe(1)'), (4, 'second describe(2)')]",
        "child exit 1",
    ], run


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
def test_guarded_program_that_chose_its_start_method_keeps_spawns_children(
    envs, tmp_path, version, method
):
    """A guarded program that chose spawn or forkserver was written for spawn's children:
    they import the script and compute their own globals, with spawnfix as without it
    (the same lines, in any order)."""
    python = envs.get(version).python
    native = observe(python, "guarded_values", method, tmp_path / "native", SPAWNFIX="0")
    with_spawnfix = observe(python, "guarded_values", method, tmp_path / "on")
    _native_spawn_children(native)
    _native_spawn_children(with_spawnfix)


@pytest.mark.parametrize("version", matrix_pythons())
def test_guarded_program_on_the_default_start_method_gets_forks_values(envs, tmp_path, version):
    """A guarded program that names no start method was written for fork: on Linux 3.14+,
    whose default is forkserver, its children get the parent's values, as they did under
    fork (before 3.14 the default is fork itself); ``SPAWNFIX_VALUES=spawn`` gives them
    spawn's children, as natively."""
    python = envs.get(version).python
    with_spawnfix = observe(python, "guarded_values", "default", tmp_path / "on")
    assert with_spawnfix["exit"] == 0, with_spawnfix
    assert with_spawnfix["stdout"] == GUARDED_FORK_OUTPUT, with_spawnfix
    if version in ("3.14", "3.15"):
        native = observe(python, "guarded_values", "default", tmp_path / "native", SPAWNFIX="0")
        forced = observe(
            python, "guarded_values", "default", tmp_path / "spawn", SPAWNFIX_VALUES="spawn"
        )
        _native_spawn_children(native)
        _native_spawn_children(forced)


@pytest.mark.parametrize("version", ["3.11", "3.14"])
def test_manager_dict_made_in_unittest_setup_reaches_the_child(envs, tmp_path, version):
    """``python -m unittest``: the test module is a user module; its ``SHARED`` global, a
    ``Manager().dict()`` made in ``setUp``, is the parent's in the child (CPython #128145)
    when the test names no start method (3.14: forkserver by default) or asks for fork's
    values; a test that chose spawn itself gets spawn's children, as natively."""
    python = envs.get(version).python
    args = ["-m", "unittest", "-q", f"{FOLDER}.unittest_manager"]

    def run(method: str, **env: str):
        return run_python(python, args, SCRIPTS, timeout=90, START_METHOD=method, **env)

    for method in ("fork", "default"):
        result = run(method)
        assert result.returncode == 0, (method, result.stderr)
    for method in ("spawn", "forkserver"):
        assert run(method, SPAWNFIX_VALUES="fork").returncode == 0, method
        chose = run(method)
        assert chose.returncode == 1, chose.stderr
        assert "TypeError: 'NoneType' object does not support item assignment" in chose.stderr
    native = run("spawn", SPAWNFIX="0")
    assert native.returncode == 1, native.stderr
    assert "TypeError: 'NoneType' object does not support item assignment" in native.stderr
    if version == "3.14":
        native_default = run("default", SPAWNFIX="0")
        assert native_default.returncode == 1, native_default.stderr


LOOP_SITE_OUTPUT = ["round 0 workers see [1, 1]", "round 1 workers see [2, 2]"]


@pytest.mark.parametrize("invocation", [FILE, MODULE])
@pytest.mark.parametrize("version", ["3.11", "3.14"])
def test_loop_holding_the_pool_is_not_run_again_in_the_workers(envs, tmp_path, version, invocation):
    """The spawn site is a ``for`` loop that defines nothing: with the parent's values a
    worker does not enter it (it would call the helper once more, and build whatever the
    loop builds, a ``DataLoader`` iterator for one). spawn and forkserver = fork; without
    values (spawnfix's earlier re-run) the count is off; with ``SPAWNFIX=0`` it hangs."""
    python = envs.get(version).python

    def seen(method: str, label: str = "", **env: str) -> dict:
        work = tmp_path / (label or method)
        return observe(python, "loop_site", method, work, invocation, **env)

    reference = seen("fork", SPAWNFIX="0")
    assert (reference["exit"], reference["stdout"]) == (0, LOOP_SITE_OUTPUT), reference
    for method in ("spawn", "forkserver"):
        assert seen(method, SPAWNFIX="quiet") == reference, method
    before = seen("spawn", "before", SPAWNFIX="quiet", SPAWNFIX_VALUES="0")
    assert before["stdout"] == ["round 0 workers see [1, 1]", "round 1 workers see [1, 1]"]
    native = run_corpus(
        python,
        "loop_site",
        "spawn",
        invocation,
        tmp_path / "native",
        folder=FOLDER,
        timeout=NATIVE_HANG_SECONDS,
        SPAWNFIX="0",
    )
    assert native.result.timed_out or native.result.returncode != 0, native.result


@pytest.mark.parametrize("version", matrix_pythons())
def test_replacement_workers_get_the_parents_current_blobs(envs, tmp_path, version):
    """Large bytes and str globals, pickled once while bound (issue 30, finding 11): a
    replacement worker started after the parent rebinds them gets the new ones, as under
    fork."""
    python = envs.get(version).python
    reference = observe(python, "replaced_blobs", "fork", tmp_path / "fork", SPAWNFIX="0")
    assert (reference["exit"], reference["stdout"]) == (0, ["first True", "second True"])
    for method in ("spawn", "forkserver"):
        seen = observe(python, "replaced_blobs", method, tmp_path / method, SPAWNFIX="quiet")
        assert seen == reference, (method, seen)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", matrix_pythons())
def test_top_level_calls_that_fill_globals_count_once(envs, tmp_path, version, method):
    """``add_task(2, 3)`` and ``register_all()`` at the top level, filling a list and a
    registry defined above them (issue 29, finding 2): the workers see each entry once, as
    under fork (the child's re-run of the call used to add them a second time to the
    parent's values)."""
    python = envs.get(version).python
    reference = observe(python, "top_level_calls", "fork", tmp_path / "fork", SPAWNFIX="0")
    expected = ["([(2, 3)], {'csv': ['csv'], 'json': ['json']})"] * 2
    assert (reference["exit"], reference["stdout"]) == (0, expected), reference
    seen = observe(python, "top_level_calls", method, tmp_path / method, SPAWNFIX="quiet")
    assert (seen["exit"], seen["stdout"]) == (0, expected), seen
