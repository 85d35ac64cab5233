"""Garbage in any ``SPAWNFIX*`` variable never stops a program (issue 30).

A guarded and an unguarded spawn ``Pool`` script run with every variable spawnfix reads
set to one garbage value: each exits 0 and prints what the guarded script prints with
``SPAWNFIX=0`` (the unguarded one would hang there). The parsing itself is covered value
by value in tests/unit/test_config_parsing.py.
"""

from __future__ import annotations

import pytest

from conftest import matrix_pythons
from support.scripts import run_python

# Every SPAWNFIX* variable the package reads: the settings, then spawnfix's own hand-offs
# to children and the fork server (which a user could still set by mistake).
VARIABLES = (
    "SPAWNFIX",
    "SPAWNFIX_DEBUG",
    "SPAWNFIX_PRELOAD",
    "SPAWNFIX_VALUES",
    "SPAWNFIX_WARM",
    "SPAWNFIX_VALUE_LIMIT",
    "SPAWNFIX_SHARE_ABOVE",
    "SPAWNFIX_FORKSERVER_SKIP",
    "SPAWNFIX_BY_VALUE_WARNED",
    "SPAWNFIX_CONFIG_REPORTED",
    "SPAWNFIX_PACKAGE_DIR",
)
GARBAGE = (
    "inf",
    "1e999",
    "nan",
    "-5",
    "12Q",
    "",
    " \t ",
    "ünï\u2603;x;zz",
    "\udcff\udcfe\x01\x7f",  # not UTF-8 in the environment's bytes
)

GUARDED = """\
import multiprocessing


def square(x):
    return x * x


if __name__ == "__main__":
    with multiprocessing.get_context("{method}").Pool(2) as pool:
        print("sum", sum(pool.map(square, range(10))))
"""
UNGUARDED = """\
import multiprocessing


def square(x):
    return x * x


with multiprocessing.get_context("{method}").Pool(2) as pool:
    print("sum", sum(pool.map(square, range(10))))
"""
NATIVE_OUTPUT = "sum 285\n"
TIMEOUT = 60


def write_scripts(folder, method):
    (folder / "guarded.py").write_text(GUARDED.format(method=method))
    (folder / "unguarded.py").write_text(UNGUARDED.format(method=method))


@pytest.fixture(scope="module")
def native_stdout(main_env, tmp_path_factory):
    """The guarded script's output with spawnfix off."""
    folder = tmp_path_factory.mktemp("native")
    write_scripts(folder, "spawn")
    result = run_python(main_env.python, ["guarded.py"], folder, timeout=TIMEOUT, SPAWNFIX="0")
    assert not result.timed_out and result.returncode == 0, result.output
    assert result.stdout == NATIVE_OUTPUT, result.output
    return result.stdout


@pytest.mark.parametrize("value", GARBAGE, ids=ascii)
def test_garbage_in_every_variable_fails_open(main_env, tmp_path, native_stdout, value):
    write_scripts(tmp_path, "spawn")
    garbage = dict.fromkeys(VARIABLES, value)
    for script in ("guarded.py", "unguarded.py"):
        result = run_python(main_env.python, [script], tmp_path, timeout=TIMEOUT, **garbage)
        assert not result.timed_out, f"{script}: {result.output}"
        assert result.returncode == 0, f"{script}: {result.output}"
        assert result.stdout == native_stdout, f"{script}: {result.output}"
        assert "Traceback" not in result.stderr, f"{script}: {result.output}"


@pytest.mark.parametrize("value", ["inf", "x;x;x"], ids=ascii)
def test_garbage_under_forkserver(main_env, tmp_path, native_stdout, value):
    """The fork server reads its own hand-off variables; garbage there is ignored too."""
    write_scripts(tmp_path, "forkserver")
    garbage = dict.fromkeys(VARIABLES, value)
    result = run_python(main_env.python, ["unguarded.py"], tmp_path, timeout=TIMEOUT, **garbage)
    assert not result.timed_out and result.returncode == 0, result.output
    assert result.stdout == native_stdout, result.output
    assert "Traceback" not in result.stderr, result.output


# A guarded program that adds twenty lines at the top of its own file before its first
# Pool (issue 30, finding 8), importing multiprocessing before the edit or after it. Read
# as it is now, the file put the parent's line numbers on other statements: a warning
# naming the wrong line, children stopped before ``scaled``.
EDITED = """\
{import_first}import os
import sys


def scaled(x):
    return x * 10


def add_lines_at_the_top():
    with open(__file__) as handle:
        source = handle.read()
    with open(__file__, "w") as handle:
        handle.write("# a line added while the program runs\\n" * 20 + source)


def main():
    add_lines_at_the_top()
    import multiprocessing

    method = sys.argv[1] if len(sys.argv) > 1 else None
    with multiprocessing.get_context(method).Pool(2) as pool:
        print("scaled", pool.map(scaled, [1, 2, 3]))


if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize("method", ["spawn", "forkserver", "default"])
@pytest.mark.parametrize("version", matrix_pythons())
@pytest.mark.parametrize("imported", ["before", "after"])
def test_script_edited_while_running_is_left_native(envs, tmp_path, version, method, imported):
    """Imported before the edit, spawnfix holds the text it started with; after it, the
    file's code differs from the running code, and the children start natively."""
    python = envs.get(version).python
    args = [] if method == "default" else [method]
    source = EDITED.format(import_first="import multiprocessing\n" if imported == "before" else "")
    for label, env in (("native", {"SPAWNFIX": "0"}), ("spawnfix", {"SPAWNFIX_DEBUG": "1"})):
        (tmp_path / label).mkdir()
        (tmp_path / label / "edited.py").write_text(source)
        result = run_python(python, ["edited.py", *args], tmp_path / label, timeout=TIMEOUT, **env)
        assert not result.timed_out and result.returncode == 0, result.output
        assert result.stdout == "scaled [10, 20, 30]\n", result.output
        assert "Warning" not in result.stderr, result.output
    if imported == "after" and method != "default":
        assert "edited after the program started" in result.stderr, result.output
