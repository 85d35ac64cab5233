"""A user runs a guarded script: the parent tells that from the text, without parsing it.

Most programs start their children inside ``if __name__ == "__main__":``. For those the
parent reads the script's text instead of parsing it (``_ast`` alone costs about a third of
an interpreter's start); whatever the text cannot make certain is parsed as before.
"""

from __future__ import annotations

import pytest

from conftest import matrix_pythons
from support.scripts import NATIVE_HANG_SECONDS, SCRIPTS, run_python

TEXT_GUARD = SCRIPTS / "text_guard"
START_METHODS = ("spawn", "forkserver")
FORKSERVER_DEFAULT = ("3.14", "3.15")


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("version", matrix_pythons())
def test_guarded_pool_is_told_from_the_text(envs, tmp_path, version, start_method):
    """The guarded Pool works as without spawnfix, and its parent decides from the text
    (logged so) and never imports ``_ast``, where nothing else parses the script."""
    python = envs.get(version).python
    script = str(TEXT_GUARD / "guarded_pool.py")
    run = run_python(python, [script], tmp_path, START_METHOD=start_method, SPAWNFIX_DEBUG="1")
    assert run.returncode == 0, run.output
    assert "sum 285" in run.stdout, run.output
    # Python 3.14+, whose default start method is forkserver, parse such a script as it
    # imports multiprocessing (spawnfix.warm_forkserver); elsewhere the first launch is
    # decided from the text. A forkserver launch parses for the fork server's preload.
    default_forkserver = version in FORKSERVER_DEFAULT
    if not default_forkserver:
        assert "(read from the text)" in run.stderr, run.output
    if start_method == "spawn" and not default_forkserver:
        assert "parsed False" in run.stdout, run.output
    native = run_python(python, [script], tmp_path, START_METHOD=start_method, SPAWNFIX="0")
    assert native.returncode == 0 and "sum 285" in native.stdout, native.output


def test_text_check_agrees_with_the_parse(main_env, tmp_path):
    """On every script of the test corpus and on the tricky ones, each line the text check
    accepts is inside a main guard by the parse, with no unguarded set_start_method; the
    guarded Pool's lines are accepted, the Pool inside a guard-like string is not."""
    scripts = sorted(str(path) for path in SCRIPTS.rglob("*.py"))
    checker = str(TEXT_GUARD / "check_text_guard.py")
    run = run_python(main_env.python, [checker, *scripts], tmp_path)
    assert run.returncode == 0, run.output
    assert "disagree" not in run.stdout, run.output
    accepted = int(run.stdout.split("accepted")[-1])
    assert accepted > 100, run.output
    for script, line, expected in (("guarded_pool.py", 14, "1"), ("guard_in_a_string.py", 15, "0")):
        probe = (
            "import sys; from spawnfix import main_script as m; "
            "p = sys.argv[1]; t = m.ScriptText(open(p, 'rb').read(), p); "
            "print(int(t.in_main_guard(int(sys.argv[2]))))"
        )
        path = str(TEXT_GUARD / script)
        result = run_python(main_env.python, ["-c", probe, path, str(line)], tmp_path)
        assert result.stdout.strip() == expected, (script, line, result.output)


@pytest.mark.parametrize("version", matrix_pythons())
def test_guard_like_text_in_a_string_is_not_a_guard(envs, tmp_path, version):
    """A Pool whose statement begins with a string holding ``if __name__ ==
    "__main__":`` is unguarded: spawnfix warns and repairs it (the parse decides); without
    spawnfix each worker re-runs the Pool and dies."""
    python = envs.get(version).python
    script = str(TEXT_GUARD / "guard_in_a_string.py")
    run = run_python(python, [script], tmp_path)
    assert run.returncode == 0, run.output
    assert "note [9]" in run.stdout, run.output
    assert run.stderr.count("UnguardedMainWarning") == 1, run.output
    native = run_python(python, [script], tmp_path, timeout=NATIVE_HANG_SECONDS, SPAWNFIX="0")
    assert native.timed_out or native.returncode != 0, native.output
    assert "bootstrapping phase" in native.stderr, native.output
