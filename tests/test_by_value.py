"""A user sends what only fork could send (issue 9): notebook and ``python -c`` functions
and classes, lambdas, closures and local classes.

Each program runs under spawn and forkserver with spawnfix and must print what it printed
under ``fork`` without spawnfix; with ``SPAWNFIX=0`` it fails natively (asserted). A real
notebook runs in a real IPython kernel (nbclient + ipykernel, pinned). Pickles that work
without spawnfix are byte-for-byte the same with it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import matrix_pythons
from support.corpus import FILE, run_corpus
from support.scripts import NATIVE_HANG_SECONDS, run_python

FOLDER = "by_value"
START_METHODS = ("spawn", "forkserver")
NOTEBOOK_REQUIREMENTS = ("ipykernel==7.4.0", "nbclient==0.11.0", "nbformat==5.11.1")
# ipykernel 7 needs Python 3.11 or newer.
NOTEBOOK_PYTHONS = [v for v in matrix_pythons() if tuple(map(int, v.split("."))) >= (3, 11)]
RUN_NOTEBOOK = Path(__file__).resolve().parent / "support" / "run_notebook.py"

# A notebook-style program: a function and a class defined in __main__, used by a Pool.
INTERACTIVE_PROGRAM = """\
import multiprocessing, os

def square(x):
    return x * x

class Box:
    def __init__(self, side):
        self.side = side

    def area(self):
        return self.side * self.side

def area(box):
    return box.area()

with multiprocessing.get_context(os.environ["START_METHOD"]).Pool(2) as pool:
    print(pool.map(square, range(6)))
    print(pool.map(area, [Box(side) for side in range(4)]))
    boxes = pool.map(Box, range(3))
print([type(box).__name__ for box in boxes], isinstance(boxes[0], Box))
"""
INTERACTIVE_OUTPUT = "[0, 1, 4, 9, 16, 25]\n[0, 1, 4, 9]\n['Box', 'Box', 'Box'] True\n"


def _run_program(python, how, tmp_path, start_method, **env):
    args = ["-c", INTERACTIVE_PROGRAM] if how == "-c" else ["-"]
    text = INTERACTIVE_PROGRAM if how == "stdin" else None
    return run_python(python, args, tmp_path, input_text=text, START_METHOD=start_method, **env)


@pytest.mark.parametrize("how", ["-c", "stdin"])
@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("version", matrix_pythons())
def test_interactive_program_prints_what_fork_printed(envs, tmp_path, version, start_method, how):
    """``python -c`` and stdin: a function and a class of __main__ reach Pool workers."""
    python = envs.get(version).python
    reference = _run_program(python, how, tmp_path, "fork", SPAWNFIX="0")
    assert (reference.returncode, reference.stdout) == (0, INTERACTIVE_OUTPUT), reference.output
    result = _run_program(python, how, tmp_path, start_method)
    assert not result.timed_out, result.output
    assert (result.returncode, result.stdout) == (0, INTERACTIVE_OUTPUT), result.output
    assert result.stderr.count("SentByValueWarning") == 1, result.output
    assert "defined in an interactive __main__" in result.stderr


@pytest.mark.parametrize(
    ("how", "native_failure"),
    [("-c", "Can't get attribute 'square'"), ("stdin", "No such file or directory")],
)
def test_interactive_program_fails_without_spawnfix(main_env, tmp_path, how, native_failure):
    """SPAWNFIX=0: workers cannot find __main__'s functions (or its file); the Pool hangs."""
    result = _run_program(
        main_env.python, how, tmp_path, "spawn", timeout=NATIVE_HANG_SECONDS, SPAWNFIX="0"
    )
    assert result.timed_out or result.returncode != 0, result.output
    assert native_failure in result.stderr, result.output


def test_fork_only_interactive_program_is_untouched(main_env, tmp_path):
    """With only fork children, an interactive program's pickles are left alone: same
    output, no warning."""
    with_fix = _run_program(main_env.python, "-c", tmp_path, "fork")
    without = _run_program(main_env.python, "-c", tmp_path, "fork", SPAWNFIX="0")
    assert (with_fix.returncode, with_fix.stdout, with_fix.stderr) == (
        without.returncode,
        without.stdout,
        without.stderr,
    )


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("version", matrix_pythons())
def test_local_targets_print_what_fork_printed(envs, tmp_path, version, start_method):
    """Lambda, closure and local-class instance targets, and a lambda argument."""
    python = envs.get(version).python
    reference = run_corpus(python, "local_targets", "fork", FILE, tmp_path / "fork", folder=FOLDER)
    run = run_corpus(python, "local_targets", start_method, FILE, tmp_path / "run", folder=FOLDER)
    assert reference.result.returncode == run.result.returncode == 0, run.result.output
    assert run.result.stdout == reference.result.stdout, run.result.output
    assert run.result.stdout.count(" 0\n") == 4
    assert run.result.stderr.count("SentByValueWarning") == 1, run.result.output


def test_local_targets_fail_without_spawnfix(main_env, tmp_path):
    """SPAWNFIX=0 under spawn: the lambda target cannot be pickled."""
    run = run_corpus(
        main_env.python, "local_targets", "spawn", FILE, tmp_path, folder=FOLDER, SPAWNFIX="0"
    )
    assert run.result.returncode != 0, run.result.output
    assert "Can't pickle <function <lambda>" in run.result.stderr, run.result.output


def test_strict_mode_refuses_with_the_fix(main_env, tmp_path):
    """SPAWNFIX=strict: ChildPicklingError naming the lambda, where it is, and the fix."""
    run = run_corpus(
        main_env.python, "local_targets", "spawn", FILE, tmp_path, folder=FOLDER, SPAWNFIX="strict"
    )
    assert run.result.returncode != 0, run.result.output
    stderr = run.result.stderr
    assert "spawnfix.errors.ChildPicklingError: spawnfix (SPAWNFIX=strict) did not send" in stderr
    assert "function <lambda> (" in stderr and "local_targets.py:34)" in stderr, stderr
    assert "define it at the top level of a module" in stderr


@pytest.mark.parametrize("start_method", START_METHODS)
def test_unpicklable_argument_teaches(main_env, tmp_path, start_method):
    """An open file as a Process argument: the standard library's own TypeError (the
    type the program would catch), with a note naming it, its place, fork, the fix."""
    run = run_corpus(
        main_env.python, "unpicklable_argument", start_method, FILE, tmp_path, folder=FOLDER
    )
    stderr = run.result.stderr
    assert run.result.returncode != 0, run.result.output
    assert "TypeError: cannot pickle '_io.TextIOWrapper' object\n" in stderr, stderr
    assert "ChildPicklingError" not in stderr, stderr
    assert "Cannot send <_io.TextIOWrapper name='/dev/null'" in stderr, stderr
    assert "it is args[0] of Process(target=write_line)" in stderr
    assert "Under fork this worked because the child got a copy" in stderr
    assert "a path instead of an open file" in stderr


@pytest.mark.parametrize("start_method", START_METHODS)
def test_working_pickles_are_byte_identical(main_env, tmp_path, start_method):
    """A function, a class, an instance and library objects: same bytes with spawnfix."""
    runs = [
        run_corpus(
            main_env.python,
            "pickle_bytes",
            start_method,
            FILE,
            tmp_path / mode,
            folder=FOLDER,
            SPAWNFIX=mode,
        )
        for mode in ("1", "0")
    ]
    assert runs[0].result.returncode == runs[1].result.returncode == 0, runs[0].result.output
    assert runs[0].result.stdout == runs[1].result.stdout, runs[0].result.output
    assert runs[0].result.stdout.count("\n") == 6
    assert runs[0].result.stderr == runs[1].result.stderr == ""


def _run_notebook(env, tmp_path, start_method, cell_timeout=90, **extra):
    result = run_python(
        env.python,
        [str(RUN_NOTEBOOK), str(cell_timeout)],
        tmp_path,
        timeout=cell_timeout + 120,
        START_METHOD=start_method,
        **extra,
    )
    assert not result.timed_out, result.output
    return result, json.loads(result.stdout)


@pytest.mark.parametrize("version", NOTEBOOK_PYTHONS)
def test_real_notebook_prints_what_fork_printed(envs, tmp_path, version):
    """Cells define a function and a class and map them with a Pool in a real kernel:
    under spawn and forkserver every cell prints what it printed under fork."""
    env = envs.get(version, NOTEBOOK_REQUIREMENTS)
    reference, fork_cells = _run_notebook(env, tmp_path, "fork", SPAWNFIX="0")
    assert reference.returncode == 0, reference.output
    assert fork_cells[-1]["stdout"] == INTERACTIVE_OUTPUT, fork_cells
    for start_method in START_METHODS:
        result, cells = _run_notebook(env, tmp_path, start_method)
        assert result.returncode == 0, result.output
        assert [c["stdout"] for c in cells] == [c["stdout"] for c in fork_cells], start_method
        assert "SentByValueWarning" in cells[1]["stderr"] + cells[-1]["stderr"], cells


@pytest.mark.parametrize(("version", "start_method"), [("3.11", "spawn"), ("3.14", "forkserver")])
def test_real_notebook_hangs_without_spawnfix(envs, tmp_path, version, start_method):
    """SPAWNFIX=0: the workers cannot find `square`; the cell times out (kernel killed),
    under spawn and under 3.14's default forkserver."""
    env = envs.get(version, NOTEBOOK_REQUIREMENTS)
    result, cells = _run_notebook(
        env, tmp_path, start_method, cell_timeout=NATIVE_HANG_SECONDS, SPAWNFIX="0"
    )
    assert result.returncode == 3, result.output
    # 3.11's unpickler: "Can't get attribute 'square' on <module '__main__' ...>";
    # 3.14's: "module '__main__' has no attribute 'square'".
    missing = re.search(
        r"Can't get attribute 'square'|has no attribute 'square'",
        cells[-1]["stderr"] + result.stderr,
    )
    assert missing, result.output


def test_no_cloudpickle_import_when_nothing_goes_by_value(main_env, tmp_path):
    """A working spawn Pool never imports cloudpickle."""
    code = (
        "import multiprocessing as mp, sys\n"
        "if __name__ == '__main__':\n"
        "    with mp.get_context('spawn').Pool(2) as pool:\n"
        "        print(pool.map(abs, [-1, -2]), 'cloudpickle' in sys.modules)\n"
    )
    script = tmp_path / "abs_pool.py"
    script.write_text(code)
    result = run_python(main_env.python, [str(script)], tmp_path)
    assert result.stdout == "[1, 2] False\n", result.output


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("version", matrix_pythons())
def test_unrepairable_pickling_error_reaches_the_program_unchanged(
    envs, tmp_path, version, start_method
):
    """An object whose ``__reduce__`` raises AttributeError, put on a Queue after a spawn
    child started: the queue's ``_on_queue_feeder_error`` hook gets that AttributeError,
    as without spawnfix (by value never replaces an error it cannot repair)."""
    python = envs.get(version).python
    runs = [
        run_corpus(
            python,
            "queue_feeder_error",
            start_method,
            FILE,
            tmp_path / mode,
            folder=FOLDER,
            SPAWNFIX=mode,
        )
        for mode in ("1", "0")
    ]
    expected = (
        "feeder saw ('AttributeError', 'no reduce here', 'NotSerializable')\nthen got after\n"
    )
    for run in runs:
        assert run.result.returncode == 0, run.result.output
        assert run.result.stdout == expected, run.result.output
