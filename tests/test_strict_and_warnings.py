"""What the user is told: the default warning, quiet mode, strict mode, bad settings."""

from __future__ import annotations

import pytest

from support.corpus import FILE, MODULE, run_corpus

GUARD = 'if __name__ == "__main__":'


@pytest.mark.parametrize("invocation", [FILE, MODULE])
@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_strict_mode_stops_in_the_parent_before_any_child(
    main_env, tmp_path, start_method, invocation
):
    """SPAWNFIX=strict: UnguardedMainError names file, line, source, cause and fix."""
    run = run_corpus(
        main_env.python,
        "top_pool",
        start_method,
        invocation,
        tmp_path,
        timeout=30,
        SPAWNFIX="strict",
    )
    stderr = run.result.stderr
    assert not run.result.timed_out and run.result.returncode == 1, run.result.output
    assert "spawnfix.errors.UnguardedMainError" in stderr, run.result.output
    assert "corpus/top_pool.py:16" in stderr, run.result.output
    assert "pool = multiprocessing.get_context" in stderr
    assert f"'{start_method}' start method every child re-runs top_pool.py" in stderr
    assert "bootstrapping phase" in stderr
    assert f"Fix: put line 16 and everything after it under `{GUARD}`" in stderr
    assert "SPAWNFIX=1" in stderr
    assert run.events_of("__mp_main__") == [], "a child was started"
    assert run.events_of("__main__") == ["start"]


def test_strict_mode_names_set_start_method(main_env, tmp_path):
    """A top-level set_start_method is listed among the lines to move."""
    run = run_corpus(
        main_env.python,
        "top_set_start_method",
        "spawn",
        FILE,
        tmp_path,
        timeout=30,
        SPAWNFIX="strict",
    )
    assert run.result.returncode == 1, run.result.output
    assert "UnguardedMainError" in run.result.stderr
    assert "multiprocessing.set_start_method(os.environ" in run.result.stderr
    assert "context has already been set" in run.result.stderr
    assert "and move line 16 there too" in run.result.stderr, run.result.output


def test_default_warning_teaches(main_env, tmp_path):
    """The default-mode warning: once, from the parent, with file, line, cause and fix."""
    run = run_corpus(main_env.python, "top_pool", "spawn", FILE, tmp_path)
    stderr = run.result.stderr
    assert run.result.returncode == 0, run.result.output
    assert stderr.count("UnguardedMainWarning") == 1, run.result.output
    assert "corpus/top_pool.py:16: UnguardedMainWarning" in stderr
    assert "stops each child's re-run before that statement" in stderr
    assert f"Fix: put line 16 and everything after it under `{GUARD}`" in stderr
    assert "SPAWNFIX=quiet" in stderr and "SPAWNFIX=strict" in stderr


def test_warning_can_be_made_an_error_with_python_warning_filters(main_env, tmp_path):
    """The warning is a real UserWarning: -W error::UserWarning makes it an exception,
    raised in the parent before the child starts."""
    run = run_corpus(
        main_env.python,
        "top_process",
        "spawn",
        FILE,
        tmp_path,
        timeout=30,
        PYTHONWARNINGS="error::UserWarning",
    )
    assert run.result.returncode == 1, run.result.output
    assert "spawnfix.errors.UnguardedMainWarning" in run.result.stderr
    assert run.events_of("__mp_main__") == []


def test_quiet_mode_fixes_without_a_word(main_env, tmp_path):
    """SPAWNFIX=quiet: the script works and stderr stays empty."""
    run = run_corpus(main_env.python, "top_executor", "spawn", FILE, tmp_path, SPAWNFIX="quiet")
    assert run.result.returncode == 0, run.result.output
    assert "sum 2025" in run.result.stdout
    assert run.result.stderr == ""


def test_unknown_setting_is_reported_once_and_default_applies(main_env, tmp_path):
    """SPAWNFIX=bogus: one clear notice for the whole process tree, then default mode."""
    run = run_corpus(main_env.python, "top_pool", "spawn", FILE, tmp_path, SPAWNFIX="bogus")
    assert run.result.returncode == 0, run.result.output
    assert run.result.stderr.count("SPAWNFIX='bogus' is not understood") == 1, run.result.output
    assert "SpawnfixConfigWarning" in run.result.stderr
    assert run.result.stderr.count("UnguardedMainWarning") == 1


def test_debug_log_explains_decisions(main_env, tmp_path):
    """SPAWNFIX_DEBUG=1: parent and child decisions on the spawnfix logger, with pids."""
    run = run_corpus(
        main_env.python,
        "top_pool",
        "spawn",
        FILE,
        tmp_path,
        SPAWNFIX="quiet",
        SPAWNFIX_DEBUG="1",
    )
    stderr = run.result.stderr
    assert run.result.returncode == 0, run.result.output
    assert "spawnfix[" in stderr
    assert "top_pool.py:16, top-level simple statement at lines 16-16, unguarded" in stderr
    assert "re-running" in stderr and "stopping before line 16" in stderr


CHOSEN_IN_MAIN = """\
import multiprocessing as mp

LOADED = "import-time"


def report(queue):
    queue.put(LOADED)


def main():
    global LOADED
    mp.set_start_method("{method}")
    LOADED = "set by main"
    queue = mp.Queue()
    process = mp.Process(target=report, args=(queue,))
    process.start()
    print(queue.get(timeout=60))
    process.join()


if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize("spawnfix", ["1", "0"])
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_set_start_method_inside_main_is_the_programs_choice(main_env, tmp_path, method, spawnfix):
    """``set_start_method`` in the body of a guarded ``main()`` is no top-level code: no
    warning, and the program chose its method, so its child imports the script and sees
    the import-time global, as natively (it was treated as an unguarded call)."""
    from support.scripts import run_python

    script = tmp_path / "chosen_in_main.py"
    script.write_text(CHOSEN_IN_MAIN.format(method=method))
    result = run_python(main_env.python, [str(script)], tmp_path, 60, SPAWNFIX=spawnfix)
    assert (result.returncode, result.stdout) == (0, "import-time\n"), result.output
    assert "Warning" not in result.stderr, result.output
