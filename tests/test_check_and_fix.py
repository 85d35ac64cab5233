"""A user turns the warning into a permanent fix (issue 11): ``spawnfix check`` finds the
unguarded process starts without running anything, ``spawnfix fix`` moves the program
code under the guard, keeping comments and formatting.

Every unguarded script of the corpora is flagged at the right line; each fixed script,
run without spawnfix (``SPAWNFIX=0``) under spawn and forkserver, prints what the original
printed under fork, and ``check`` passes on it. Guarded scripts are left alone.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import matrix_pythons
from support.scripts import NATIVE_HANG_SECONDS, SCRIPTS, run_python

FIX_REQUIREMENTS = ("libcst==1.9.0",)
FIX_PYTHON = "3.11"

# script -> the line of its first finding (the statement that starts processes)
FIRST_FINDING = {
    "corpus/top_process": 18,
    "corpus/top_pool": 16,
    "corpus/top_pool_with": 16,
    "corpus/top_executor": 18,
    "corpus/top_manager": 17,
    "corpus/top_set_start_method": 16,
    "corpus/target_in_compound": 25,
    "field/pool_maxtasks": 17,
    "field/thread_starts_pool": 22,
    "field/thread_pool_starts_pool": 23,
    "field/grandchild": 30,
    "field/mkdir_before_pool": 19,
    "field/port_before_pool": 20,
    "field/main_called": 21,
    "field/asyncio_executor": 26,
    "field/argparse_exit": 28,
    "field/dask_client": 19,
    "field/top_multiprocess": 13,
    "field/top_billiard": 18,
    "ml_cases/dataloader": 28,
    "ml_cases/loader_epochs": 28,
    "ml_cases/mp_spawn_allreduce": 25,
    "ml_cases/lightning_wandb": 60,
    "ml_cases/lightning_ddp_spawn": 46,
}
# Scripts whose fixed version runs here with the standard library only.
RUNNABLE = [
    name
    for name in FIRST_FINDING
    if name.startswith(("corpus/", "field/"))
    and name not in ("field/dask_client", "field/top_multiprocess", "field/top_billiard")
]
GUARDED = ["corpus/guarded", "corpus/dynamic_guard", "pool_startup/initializer_raises"]
# Where forkserver is the default start method, the fixed scripts also run.
RUNS_FIXED_SCRIPTS = ("3.14", "3.15")


@pytest.fixture(scope="module")
def fix_env(envs):
    """Python 3.11 with libcst (pinned) and spawnfix."""
    return envs.get(FIX_PYTHON, FIX_REQUIREMENTS)


@pytest.fixture
def scripts(tmp_path):
    """A private copy of the test scripts, to be rewritten."""
    target = tmp_path / "scripts"
    shutil.copytree(SCRIPTS, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def spawnfix_cli(env, args, cwd, **kw):
    """``python -m spawnfix ARGS`` in the environment."""
    return run_python(env.python, ["-m", "spawnfix", *args], cwd, **kw)


@pytest.mark.parametrize("script", sorted(FIRST_FINDING))
def test_check_flags_the_spawn_site(fix_env, scripts, script):
    """path:line:col: SPX001 message, exit 1, first finding at the expected line."""
    result = spawnfix_cli(fix_env, ["check", f"{script}.py"], scripts)
    assert result.returncode == 1, result.output
    first = result.stdout.splitlines()[0]
    location, _, message = first.partition(": ")
    path, line, col = location.rsplit(":", 2)
    assert path == f"{script}.py" and int(line) == FIRST_FINDING[script], first
    assert int(col) >= 1 and message.startswith(("SPX001 ", "SPX002 ", "SPX003 ")), first


def test_check_json_and_clean_files(fix_env, scripts):
    """--format json lists the same findings; guarded scripts give none (exit 0)."""
    result = spawnfix_cli(fix_env, ["check", "--format", "json", "corpus/top_pool.py"], scripts)
    findings = json.loads(result.stdout)
    assert result.returncode == 1 and findings[0]["line"] == 16, result.output
    assert findings[0]["code"] == "SPX001"
    clean = spawnfix_cli(fix_env, ["check", *(f"{name}.py" for name in GUARDED)], scripts)
    assert (clean.returncode, clean.stdout) == (0, ""), clean.output


@pytest.mark.parametrize("script", RUNNABLE)
def test_fixed_script_runs_without_spawnfix(fix_env, scripts, tmp_path, script):
    """fix --write, then SPAWNFIX=0 under spawn and forkserver: the fork output; check
    passes on the result."""
    reference = _run_script(fix_env, scripts, script, "fork", tmp_path / "fork")
    assert reference.returncode == 0, reference.output
    fixed = spawnfix_cli(fix_env, ["fix", "--write", f"{script}.py"], scripts)
    assert fixed.returncode == 0, fixed.output
    again = spawnfix_cli(fix_env, ["check", f"{script}.py"], scripts)
    assert again.returncode == 0, again.output
    for method in ("spawn", "forkserver"):
        run = _run_script(fix_env, scripts, script, method, tmp_path / method)
        assert run.returncode == 0 and not run.timed_out, run.output
        assert run.stdout == reference.stdout, run.output


@pytest.mark.parametrize("version", [v for v in matrix_pythons() if v != FIX_PYTHON])
def test_check_and_fix_with_each_python(envs, scripts, tmp_path, version):
    """With that Python's own parser and libcst: check finds each script's first finding
    at the same line, fix --write moves them all and check then passes; on 3.14 and 3.15
    each fixed script, run without spawnfix under spawn and forkserver, prints what the
    original printed there under fork."""
    env = envs.get(version, FIX_REQUIREMENTS)
    found = spawnfix_cli(
        env, ["check", "--format", "json", *(f"{name}.py" for name in FIRST_FINDING)], scripts
    )
    assert found.returncode == 1, found.output
    first: dict[str, int] = {}
    for finding in json.loads(found.stdout):
        first.setdefault(finding["path"], finding["line"])
    assert first == {f"{name}.py": line for name, line in FIRST_FINDING.items()}
    runs = RUNNABLE if version in RUNS_FIXED_SCRIPTS else []
    references = _run_each(env, scripts, runs, "fork", tmp_path)
    for name, reference in references.items():
        assert reference.returncode == 0, (name, reference.output)
    fixable = [f"{name}.py" for name in [*RUNNABLE, *OTHER_ENVIRONMENTS]]
    fixed = spawnfix_cli(env, ["fix", "--write", *fixable], scripts)
    assert fixed.returncode == 0, fixed.output
    again = spawnfix_cli(env, ["check", *fixable], scripts)
    assert (again.returncode, again.stdout) == (0, ""), again.output
    for method in ("spawn", "forkserver"):
        for name, run in _run_each(env, scripts, runs, method, tmp_path).items():
            assert run.returncode == 0 and not run.timed_out, (name, run.output)
            assert run.stdout == references[name].stdout, (name, run.output)


def _run_each(env, scripts, names, method, tmp_path) -> dict:
    """Run each script (SPAWNFIX=0) two at a time: they mostly wait for their children."""
    with ThreadPoolExecutor(2) as runner:
        return dict(
            zip(
                names,
                runner.map(
                    lambda name: _run_script(
                        env, scripts, name, method, tmp_path / method / name.replace("/", "-")
                    ),
                    names,
                ),
            )
        )


# script -> (requirements of the environment it runs in, Python version)
OTHER_ENVIRONMENTS = {
    "field/dask_client": "libraries",
    "field/top_multiprocess": "libraries",
    "field/top_billiard": "libraries",
    "ml_cases/dataloader": "ml",
    "ml_cases/mp_spawn_allreduce": "ml",
}


@pytest.mark.parametrize("script", sorted(OTHER_ENVIRONMENTS))
def test_fixed_library_script_runs_without_spawnfix(fix_env, envs, scripts, tmp_path, script):
    """The same for the dask, multiprocess, billiard and torch scripts, each run in its
    own pinned environment (the Lightning ones, 10 s a run, are only checked)."""
    from support.stacks import LIBRARIES, ML_PYTHON, ML_REQUIREMENTS

    requirements = LIBRARIES if OTHER_ENVIRONMENTS[script] == "libraries" else ML_REQUIREMENTS
    env = envs.get(ML_PYTHON, requirements)
    if script == "ml_cases/mp_spawn_allreduce":
        # torch.multiprocessing.spawn always spawns: there is no fork run to compare with.
        expected = "spawn finished\n"
    else:
        reference = _run_script(env, scripts, script, "fork", tmp_path / "fork")
        assert reference.returncode == 0, reference.output
        expected = reference.stdout
    fixed = spawnfix_cli(fix_env, ["fix", "--write", f"{script}.py"], scripts)
    assert fixed.returncode == 0, fixed.output
    assert spawnfix_cli(fix_env, ["check", f"{script}.py"], scripts).returncode == 0
    for method in ("spawn", "forkserver"):
        run = _run_script(env, scripts, script, method, tmp_path / method)
        assert run.returncode == 0 and not run.timed_out, run.output
        assert run.stdout == expected, run.output


def _run_script(env, scripts, script, method, work, timeout=180):
    """Run a private copy of ``scripts`` (scripts such as mkdir_before_pool leave files)."""
    from support.scripts import free_port

    copy = work / "scripts"
    shutil.copytree(scripts, copy)
    marker_dir = work
    return run_python(
        env.python,
        [f"{script}.py"],
        copy,
        timeout=timeout,
        SPAWNFIX="0",
        START_METHOD=method,
        MARKER_FILE=str(marker_dir / "markers.txt"),
        PORT=str(free_port()),
        MASTER_PORT=str(free_port()),
        DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD=method,
    )


@pytest.mark.parametrize("script", GUARDED)
def test_fix_leaves_guarded_scripts_alone(fix_env, scripts, script):
    """No diff, file unchanged, exit 0."""
    before = (scripts / f"{script}.py").read_text()
    result = spawnfix_cli(fix_env, ["fix", "--write", f"{script}.py"], scripts)
    assert (result.returncode, result.stdout) == (0, ""), result.output
    assert (scripts / f"{script}.py").read_text() == before


FORMATTED = '''\
#!/usr/bin/env python
"""A script with comments, blank lines and odd spacing."""
import multiprocessing   # the standard library


# How many workers.
WORKERS = 2


def square( x ):
    return x*x*WORKERS    # keep this spacing


# --- program ---
print( "starting" )


with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:   # two workers
    print(pool.map(square, [1,2,3]))
# trailing comment
'''

# Context lines of blank source lines are a single space in a unified diff.
FORMATTED_DIFF = "\n".join(
    [
        "--- formatted.py",
        "+++ formatted.py",
        "@@ -11,10 +11,11 @@",
        "     return x*x*WORKERS    # keep this spacing",
        " ",
        " ",
        "-# --- program ---",
        '-print( "starting" )',
        '+if __name__ == "__main__":',
        "+    # --- program ---",
        '+    print( "starting" )',
        " ",
        " ",
        '-with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:   # two workers',
        "-    print(pool.map(square, [1,2,3]))",
        '+    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:   # two workers',
        "+        print(pool.map(square, [1,2,3]))",
        " # trailing comment",
        "",
    ]
)


def test_fix_keeps_comments_blank_lines_and_spacing(fix_env, tmp_path):
    """The diff touches only the moved lines; everything else is byte-for-byte kept."""
    (tmp_path / "formatted.py").write_text(FORMATTED)
    result = spawnfix_cli(fix_env, ["fix", "formatted.py"], tmp_path)
    assert result.returncode == 0, result.output
    assert result.stdout == FORMATTED_DIFF, result.stdout


REFUSED = """\
import multiprocessing

settings = multiprocessing.get_context("spawn").Pool(1).apply(dict, (), {"scale": 3})


def scale(x):
    return x * settings["scale"]


with multiprocessing.get_context("spawn").Pool(2) as pool:
    print(pool.map(scale, [1, 2]))
"""


def test_fix_refuses_a_move_that_changes_the_program(fix_env, tmp_path):
    """A worker reads a global that must move under the guard: explained, not written,
    exit 1; --force writes it anyway."""
    script = tmp_path / "refused.py"
    script.write_text(REFUSED)
    result = spawnfix_cli(fix_env, ["fix", "--write", "refused.py"], tmp_path)
    assert result.returncode == 1, result.output
    assert "function scale reads the global 'settings', which line 3 assigns" in result.stderr
    assert script.read_text() == REFUSED
    forced = spawnfix_cli(fix_env, ["fix", "--write", "--force", "refused.py"], tmp_path)
    assert forced.returncode == 0 and script.read_text() != REFUSED, forced.output


def test_fix_keeps_globals_that_workers_read_outside(fix_env, tmp_path):
    """A constant a worker reads stays at the top level; the fixed script works natively."""
    source = (
        "import multiprocessing\n\nFACTOR = 10\nprint('parent only')\n\n\n"
        "def times(x):\n    return x * FACTOR\n\n\n"
        "with multiprocessing.get_context('spawn').Pool(2) as pool:\n"
        "    print(pool.map(times, [1, 2]))\n"
    )
    (tmp_path / "constant.py").write_text(source)
    result = spawnfix_cli(fix_env, ["fix", "--write", "constant.py"], tmp_path)
    assert result.returncode == 0, result.output
    fixed = (tmp_path / "constant.py").read_text()
    assert fixed.index("FACTOR = 10") < fixed.index('if __name__ == "__main__":')
    run = run_python(fix_env.python, ["constant.py"], tmp_path, SPAWNFIX="0")
    assert run.stdout == "parent only\n[10, 20]\n", run.output


def test_check_is_fast_on_a_thousand_scripts(fix_env, tmp_path):
    """1,000 generated scripts (half unguarded) in a few seconds, one process."""
    folder = tmp_path / "many"
    folder.mkdir()
    body = (SCRIPTS / "corpus" / "top_pool.py").read_text()
    guarded = (SCRIPTS / "corpus" / "guarded.py").read_text()
    for index in range(1000):
        (folder / f"script_{index:04d}.py").write_text(body if index % 2 else guarded)
    started = time.monotonic()
    result = spawnfix_cli(fix_env, ["check", str(folder)], tmp_path, timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.output
    assert result.stdout.count(" SPX001 ") == 500, result.stdout[-500:]
    assert elapsed < 10, elapsed


GLOBAL_STATEMENT = """\
import multiprocessing

count = 0


def bump(x):
    global count
    count += x
    return count


total = 10
with multiprocessing.get_context("spawn").Pool(2) as pool:
    print(pool.map(bump, [1, 2]))
count = total
"""


def test_fix_refuses_a_global_statement_for_a_moved_name(fix_env, tmp_path):
    """`global count` in a worker, and count assigned again after the pool: refused."""
    script = tmp_path / "globals.py"
    script.write_text(GLOBAL_STATEMENT)
    result = spawnfix_cli(fix_env, ["fix", "globals.py"], tmp_path)
    assert result.returncode == 1, result.output
    assert "reads the global 'count', which line 15 assigns after" in result.stderr, result.output
    assert result.stdout == ""


# Scripts that define what a child needs inside the compound statement that starts it.
HOISTED_SHAPES = [
    "fix_shapes/def_in_for",
    "fix_shapes/class_in_with",
    "fix_shapes/class_in_try",
    "fix_shapes/def_in_if",
]


@pytest.mark.parametrize("script", HOISTED_SHAPES)
def test_fix_hoists_what_children_look_up(fix_env, scripts, tmp_path, script):
    """The definition moves out to the top level (children find it by name), the rest
    under the guard: SPAWNFIX=0 under spawn and forkserver prints fork's output, check
    passes. The original under spawn without spawnfix fails."""
    reference = _run_script(fix_env, scripts, script, "fork", tmp_path / "fork")
    assert reference.returncode == 0, reference.output
    native = _run_script(
        fix_env, scripts, script, "spawn", tmp_path / "native", timeout=NATIVE_HANG_SECONDS
    )
    assert native.stdout != reference.stdout, native.output
    assert "bootstrapping phase" in native.stderr, native.output
    fixed = spawnfix_cli(fix_env, ["fix", "--write", f"{script}.py"], scripts)
    assert fixed.returncode == 0, fixed.output
    assert spawnfix_cli(fix_env, ["check", f"{script}.py"], scripts).returncode == 0
    new_source = (scripts / f"{script}.py").read_text()
    assert '\nif __name__ == "__main__":\n' in new_source
    for method in ("spawn", "forkserver"):
        run = _run_script(fix_env, scripts, script, method, tmp_path / method)
        assert run.returncode == 0 and not run.timed_out, run.output
        assert run.stdout == reference.stdout, run.output


def test_fix_refuses_a_lambda_handed_to_a_child(fix_env, scripts):
    """A Process target bound by a top-level lambda statement has no name a child could
    look up: fix refuses (exit 1, nothing written) and says what to write instead."""
    path = scripts / "fix_shapes" / "lambda_target.py"
    before = path.read_text()
    result = spawnfix_cli(fix_env, ["fix", "--write", "fix_shapes/lambda_target.py"], scripts)
    assert result.returncode == 1, result.output
    assert "not fixed" in result.stderr and "binds it to a lambda" in result.stderr, result.output
    assert "write it as `def show(...):`" in result.stderr, result.output
    assert path.read_text() == before


LAZY_IMPORT_SCRIPT = """\
import multiprocessing as mp
lazy import json
with mp.Pool(2) as pool:
    print(json.dumps(pool.map(abs, [-1])))
"""


def test_check_names_the_python_a_newer_syntax_needs(fix_env, envs, tmp_path):
    """A PEP 810 ``lazy import`` script: checked by 3.11, E999 says which syntax and which
    Python reads it; checked by real 3.15, the process start is found."""
    script = tmp_path / "lazy_train.py"
    script.write_text(LAZY_IMPORT_SCRIPT)
    old = spawnfix_cli(fix_env, ["check", str(script)], tmp_path)
    assert old.returncode == 1, old.output
    assert "E999 cannot read this file with Python 3.11: line 2 (`lazy import json`)" in old.stdout
    assert "`lazy import` (PEP 810), new in Python 3.15" in old.stdout, old.output
    new = spawnfix_cli(envs.get("3.15"), ["check", str(script)], tmp_path)
    assert new.returncode == 1, new.output
    assert f"{script}:3:6: SPX001 mp.Pool() creates a process Pool" in new.stdout, new.output


# A latin-1 script with its coding declaration, and what fix --write must make of it.
LATIN_1_SCRIPT = """\
# -*- coding: latin-1 -*-
import multiprocessing


def greet(name):
    return "caf\u00e9 " + name


with multiprocessing.get_context("spawn").Pool(2) as pool:
    print(ascii(pool.map(greet, ["Zo\u00eb", "Ana\u00efs"])))
"""
LATIN_1_FIXED = """\
# -*- coding: latin-1 -*-
import multiprocessing


def greet(name):
    return "caf\u00e9 " + name


if __name__ == "__main__":
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        print(ascii(pool.map(greet, ["Zo\u00eb", "Ana\u00efs"])))
"""
LATIN_1_OUTPUT = "['caf\\xe9 Zo\\xeb', 'caf\\xe9 Ana\\xefs']\n"


@pytest.mark.parametrize(
    ("encoding", "newline"),
    [("latin-1", "\n"), ("latin-1", "\r\n"), ("utf-8", "\r\n"), ("utf-8-sig", "\r\n")],
    ids=["latin-1", "latin-1-crlf", "crlf", "bom-crlf"],
)
def test_fix_write_keeps_encoding_and_line_endings(fix_env, tmp_path, encoding, newline):
    """Byte for byte, only the inserted guard (and the indentation it brings) changes;
    the fixed script runs without spawnfix."""
    declared = "utf-8" if encoding == "utf-8-sig" else encoding
    source = LATIN_1_SCRIPT.replace("latin-1", declared)
    expected = LATIN_1_FIXED.replace("latin-1", declared)
    script = tmp_path / "greet.py"
    script.write_bytes(source.replace("\n", newline).encode(encoding))
    result = spawnfix_cli(fix_env, ["fix", "--write", "greet.py"], tmp_path)
    assert result.returncode == 0, result.output
    assert script.read_bytes() == expected.replace("\n", newline).encode(encoding)
    run = run_python(fix_env.python, ["greet.py"], tmp_path, timeout=60, SPAWNFIX="0")
    assert run.returncode == 0 and run.stdout == LATIN_1_OUTPUT, run.output


def test_fix_names_a_file_it_cannot_decode(fix_env, tmp_path):
    """One line naming the file, no traceback, exit 1; the other files are still fixed."""
    (tmp_path / "a_undeclared.py").write_bytes(
        LATIN_1_SCRIPT.replace("# -*- coding: latin-1 -*-\n", "").encode("latin-1")
    )
    (tmp_path / "b_unknown.py").write_bytes(
        LATIN_1_SCRIPT.replace("latin-1", "klingon").encode("latin-1")
    )
    (tmp_path / "c_fine.py").write_bytes(LATIN_1_SCRIPT.encode("latin-1"))
    before = {path.name: path.read_bytes() for path in tmp_path.glob("[ab]_*.py")}
    result = spawnfix_cli(fix_env, ["fix", "--write", "."], tmp_path)
    assert result.returncode == 1, result.output
    assert "Traceback" not in result.stderr, result.output
    for name in before:
        (line,) = [line for line in result.stderr.splitlines() if name in line]
        assert "not fixed, cannot read it as Python source" in line, result.output
        assert (tmp_path / name).read_bytes() == before[name]
    assert (tmp_path / "c_fine.py").read_bytes() == LATIN_1_FIXED.encode("latin-1")
