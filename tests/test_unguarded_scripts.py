"""A user runs a script without a main guard under spawn or forkserver (issue 3).

Every script runs in a fresh interpreter of a virtual environment with the built wheel
installed, for spawn and forkserver, as a file and as ``python -m``, on each Python of
the matrix (see conftest.py).
"""

from __future__ import annotations

import pytest

from conftest import matrix_pythons
from support.corpus import FILE, MODULE, run_corpus
from support.scripts import NATIVE_HANG_SECONDS, run_python

START_METHODS = ("spawn", "forkserver")
INVOCATIONS = (FILE, MODULE)

# script -> (expected stdout line, events only the parent may record)
UNGUARDED = {
    "top_process": ("exitcode 0", {"after-join"}),
    "top_pool": ("sum 2470", {"after-pool", "after-map"}),
    "top_pool_with": ("sum 2470", {"inside-with", "after-with"}),
    "top_executor": ("sum 2025", {"after-shutdown"}),
    "top_manager": ("filled True exitcode 0", {"done"}),
    "top_set_start_method": ("exitcode 0", set()),
    "target_in_compound": ("exitcodes [0, 0]", {"after-loop"}),
}
CHILD_WORK = {
    "top_process": {"work 7"},
    "top_set_start_method": {"work"},
    "target_in_compound": {"work 4", "work 9"},
}


@pytest.mark.parametrize("invocation", INVOCATIONS)
@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("script", sorted(UNGUARDED))
@pytest.mark.parametrize("version", matrix_pythons())
def test_unguarded_script_works(envs, tmp_path, version, script, start_method, invocation):
    """The script finishes with the right output; children never run the spawn site."""
    env = envs.get(version)
    run = run_corpus(env.python, script, start_method, invocation, tmp_path)
    expected, parent_only = UNGUARDED[script]

    assert not run.result.timed_out, run.result.output
    assert run.result.returncode == 0, run.result.output
    assert expected in run.result.stdout, run.result.output
    assert run.result.stderr.count("UnguardedMainWarning") == 1, run.result.output
    parent = run.parent_pid
    for event in parent_only:
        assert run.pids_for(event) == {parent}, f"{event}: {run.markers}"
    # As under fork, a child never redoes the parent's top-level work: the script's
    # top-level record() calls write nothing in children, only their work is recorded.
    child_work = CHILD_WORK.get(script, set())
    assert set(run.events_of("__mp_main__")) <= child_work, run.markers
    for work in child_work:
        pids = run.pids_for(work)
        assert pids and parent not in pids, f"{work}: {run.markers}"


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("version", matrix_pythons())
def test_marker_proves_site_and_later_code_never_run_in_children(
    envs, tmp_path, version, start_method
):
    """Only the parent records anything after the top-level spawn site. With the parent's
    values (the default) children record nothing at all, as under fork; with
    ``SPAWNFIX_VALUES=0`` their re-run visibly stops before the site."""
    python = envs.get(version).python
    run = run_corpus(python, "top_pool", start_method, FILE, tmp_path / "values")
    assert run.result.returncode == 0, run.result.output
    assert run.events_of("__mp_main__") == [], run.markers
    assert run.events_of("__main__") == ["start", "after-pool", "after-map"]
    rerun = run_corpus(
        python, "top_pool", start_method, FILE, tmp_path / "rerun", SPAWNFIX_VALUES="0"
    )
    assert rerun.result.returncode == 0, rerun.result.output
    child_events = rerun.events_of("__mp_main__")
    assert child_events and set(child_events) == {"start"}, rerun.markers
    assert rerun.events_of("__main__") == ["start", "after-pool", "after-map"]


@pytest.mark.parametrize("version", matrix_pythons())
@pytest.mark.parametrize(
    ("script", "native_failure"),
    [
        ("top_process", "bootstrapping phase"),
        ("top_executor", "BrokenProcessPool"),
        ("top_set_start_method", "context has already been set"),
    ],
)
def test_spawnfix_off_gives_the_native_failure(envs, tmp_path, version, script, native_failure):
    """With SPAWNFIX=0 the standard library's own failure shows: nothing is patched."""
    env = envs.get(version)
    run = run_corpus(env.python, script, "spawn", FILE, tmp_path, timeout=60, SPAWNFIX="0")
    assert native_failure in run.result.stderr, run.result.output
    assert "site-packages/spawnfix" not in run.result.stderr, run.result.output
    assert "UnguardedMainWarning" not in run.result.stderr, run.result.output


def test_spawnfix_off_pool_hangs_as_natively(main_env, tmp_path):
    """A top-level Pool without spawnfix respawns dying workers forever (killed)."""
    run = run_corpus(
        main_env.python,
        "top_pool",
        "spawn",
        FILE,
        tmp_path,
        timeout=NATIVE_HANG_SECONDS,
        SPAWNFIX="0",
    )
    assert run.result.timed_out, run.result.output
    assert "bootstrapping phase" in run.result.stderr


def _main_preloaded(version: str) -> bool:
    # 3.14+ run the main script in the fork server (gh-126631; also 3.13.8+, not in the
    # default matrix).
    return tuple(int(part) for part in version.split(".")) >= (3, 14)


def _working_cases() -> list[tuple[str, str, str]]:
    # A dynamic guard around a forkserver pool fails natively on 3.14+ (the fork server
    # runs the script as "MainProcess"): test_dynamic_guard_with_fork_server_main_preload.
    return [
        (version, script, method)
        for version in matrix_pythons()
        for script in ("guarded", "dynamic_guard")
        for method in START_METHODS
        if not (script == "dynamic_guard" and method == "forkserver" and _main_preloaded(version))
    ]


@pytest.mark.parametrize("invocation", INVOCATIONS)
@pytest.mark.parametrize(("version", "script", "start_method"), _working_cases())
def test_working_scripts_behave_the_same(envs, tmp_path, version, script, start_method, invocation):
    """Guarded and dynamically guarded scripts that chose their start method: same output
    and markers as without spawnfix (their children are spawn's: the children's top-level
    ``record()`` calls write again, as natively). With ``SPAWNFIX_VALUES=fork`` they write
    nothing, as under fork."""
    env = envs.get(version)
    with_fix = run_corpus(env.python, script, start_method, invocation, tmp_path / "on")
    without = run_corpus(
        env.python, script, start_method, invocation, tmp_path / "off", SPAWNFIX="0"
    )
    assert with_fix.result.returncode == without.result.returncode == 0, with_fix.result.output
    assert with_fix.result.stdout == without.result.stdout
    assert with_fix.result.stderr == without.result.stderr == ""
    assert with_fix.events_of("__main__") == without.events_of("__main__")
    assert "start" in without.events_of("__mp_main__"), without.markers
    assert set(with_fix.events_of("__mp_main__")) == set(without.events_of("__mp_main__"))
    forced = run_corpus(
        env.python, script, start_method, invocation, tmp_path / "fork", SPAWNFIX_VALUES="fork"
    )
    assert forced.result.stdout == without.result.stdout, forced.result.output
    # Also on 3.14+, whose fork server natively imports the guarded script once more: it
    # gets the script's imports instead.
    assert forced.events_of("__mp_main__") == [], forced.markers


@pytest.mark.parametrize("version", matrix_pythons())
def test_source_edited_between_starts_is_rerun_natively(envs, tmp_path, version):
    """A child whose script changed since the parent read it runs it natively, safely."""
    env = envs.get(version)
    run = run_corpus(env.python, "self_editing", "spawn", FILE, tmp_path, SPAWNFIX_DEBUG="1")
    assert run.result.returncode == 0, run.result.output
    assert "exitcodes 0 0" in run.result.stdout, run.result.output
    assert "changed since the parent read it" in run.result.stderr, run.result.output
    assert {event for _, _, event in run.markers} == {"work first", "work second"}


@pytest.mark.parametrize("version", matrix_pythons())
def test_forkserver_that_preloads_main(envs, tmp_path, version):
    """Python 3.13.8+/3.14 preload the main script in the fork server (gh-126631).

    The script backports that preload; without spawnfix the fork server dies, with it
    the main path is withheld from the fork server and the children work.
    """
    env = envs.get(version)
    native = run_corpus(
        env.python,
        "forkserver_preload",
        "forkserver",
        FILE,
        tmp_path / "off",
        timeout=60,
        SPAWNFIX="0",
    )
    assert native.result.returncode != 0 or "exitcode 0" not in native.result.stdout
    assert "bootstrapping phase" in native.result.stderr, native.result.output

    fixed = run_corpus(env.python, "forkserver_preload", "forkserver", FILE, tmp_path / "on")
    assert fixed.result.returncode == 0, fixed.result.output
    assert "exitcode 0" in fixed.result.stdout, fixed.result.output
    assert fixed.pids_for("work"), fixed.markers


@pytest.mark.parametrize("start_method", START_METHODS)
def test_python_c_unchanged_and_stdin_repaired(main_env, tmp_path, start_method):
    """``python -c``: spawnfix changes nothing (its children re-run nothing, so an
    unguarded Pool works natively). ``python -`` (stdin): children fail natively, looking
    for a file named ``<stdin>``; with spawnfix they re-run nothing, as for ``-c`` (issue 9).
    """
    pool_code = (
        "import multiprocessing as mp\n"
        f"pool = mp.get_context('{start_method}').Pool(2)\n"
        "print(pool.map(abs, [-1, -2, -3]))\n"
        "pool.close(); pool.join()\n"
    )
    process_code = (
        "import multiprocessing as mp\n"
        f"process = mp.get_context('{start_method}').Process(target=abs, args=(-1,))\n"
        "process.start(); process.join()\n"
        "print('exitcode', process.exitcode)\n"
    )
    outputs = {}
    for mode in ("on", "off"):
        by_c = run_python(main_env.python, ["-c", pool_code], tmp_path, SPAWNFIX=mode)
        outputs["-c", mode] = (by_c.returncode, by_c.stdout, by_c.stderr)
        by_stdin = run_python(
            main_env.python, ["-"], tmp_path, timeout=60, input_text=process_code, SPAWNFIX=mode
        )
        outputs["stdin", mode] = (by_stdin.returncode, by_stdin.stdout, by_stdin.stderr)
    assert outputs["-c", "on"] == outputs["-c", "off"] == (0, "[1, 2, 3]\n", ""), outputs
    assert outputs["stdin", "off"][:2] == (0, "exitcode 1\n"), outputs
    assert "<stdin>" in outputs["stdin", "off"][2], outputs
    assert outputs["stdin", "on"] == (0, "exitcode 0\n", ""), outputs


@pytest.mark.parametrize("script", ["top_pool", "top_executor", "top_set_start_method"])
def test_fork_start_method_unchanged(main_env, tmp_path, script):
    """fork never re-runs the main script: spawnfix stays out, output is identical."""
    with_fix = run_corpus(main_env.python, script, "fork", FILE, tmp_path / "on")
    without = run_corpus(main_env.python, script, "fork", FILE, tmp_path / "off", SPAWNFIX="0")
    assert with_fix.result.returncode == without.result.returncode == 0, with_fix.result.output
    assert with_fix.result.stdout == without.result.stdout
    assert with_fix.result.stderr == without.result.stderr == ""
    assert with_fix.events_of("__main__") == without.events_of("__main__")


@pytest.mark.parametrize("version", [v for v in matrix_pythons() if _main_preloaded(v)])
def test_dynamic_guard_with_fork_server_main_preload(envs, tmp_path, version):
    """``if current_process().name == "MainProcess":`` around a forkserver Pool, on 3.14+:
    the fork server runs the main script and is named "MainProcess" too, so natively the
    guarded block runs inside the fork server (3.14: it dies, the parent gets
    ConnectionResetError). spawnfix keeps the script out of the fork server: the output
    the script gives under spawn (it calls a helper defined after the block, so it was
    written for spawn), and the guarded block runs in the parent only."""
    env = envs.get(version)
    reference = run_corpus(
        env.python, "dynamic_guard", "spawn", FILE, tmp_path / "spawn", SPAWNFIX="0"
    )
    run = run_corpus(env.python, "dynamic_guard", "forkserver", FILE, tmp_path / "on")
    assert run.result.returncode == 0, run.result.output
    assert run.result.stdout == reference.result.stdout == "sum 1045\n", run.result.output
    assert run.result.stderr == ""
    assert run.events_of("__main__") == ["start", "end"]
    native = run_corpus(
        env.python, "dynamic_guard", "forkserver", FILE, tmp_path / "off", timeout=30, SPAWNFIX="0"
    )
    if version == "3.14":
        assert native.result.returncode != 0, native.result.output
        assert "ConnectionResetError" in native.result.stderr, native.result.output
    else:
        # 3.15 ignores the error in the fork server's preload, but the guarded block has
        # run there: the fork server recorded the script's start and never its end.
        assert native.result.stdout == "sum 1045\n", native.result.output
        started = {pid for pid, module, event in native.markers if event == "start"}
        ended = {pid for pid, module, event in native.markers if event == "end"}
        assert started - ended, native.markers


# Scripts that name no start method: on 3.14+ Linux they get forkserver, and with it the
# fork server's own run of the main script.
DEFAULT_METHOD = {
    "default_pool": "sum 2470",
    "default_process": "exitcode 0",
    "default_executor": "sum 285",
}


@pytest.mark.parametrize("invocation", INVOCATIONS)
@pytest.mark.parametrize("script", sorted(DEFAULT_METHOD))
@pytest.mark.parametrize("version", [v for v in matrix_pythons() if _main_preloaded(v)])
def test_default_start_method_scripts(envs, tmp_path, version, script, invocation):
    """No start method named, real 3.14/3.15 (forkserver default): fork's output with
    spawnfix; natively the fork server dies running the script (3.14:
    ConnectionResetError in the parent) or every child dies (3.15)."""
    env = envs.get(version)
    expected = DEFAULT_METHOD[script]
    run = run_corpus(env.python, script, "", invocation, tmp_path / "on")
    assert run.result.returncode == 0, run.result.output
    assert expected in run.result.stdout, run.result.output
    assert run.result.stderr.count("UnguardedMainWarning") == 1, run.result.output
    native = run_corpus(
        env.python,
        script,
        "",
        invocation,
        tmp_path / "off",
        timeout=NATIVE_HANG_SECONDS,
        SPAWNFIX="0",
    )
    assert expected not in native.result.stdout, native.result.output
    assert any(
        sign in native.result.stderr
        for sign in ("ConnectionResetError", "bootstrapping phase", "BrokenProcessPool")
    ), native.result.output
