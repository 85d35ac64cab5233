"""Large numpy arrays reach spawn and forkserver children through shared memory (issue 32,
``spawnfix.parent_shared_buffers``): the children see what they see natively (or under
fork, for a script written for fork), their writes stay their own, the parent's later
writes do not reach children started earlier, one copy serves every child until the data
changes, nothing is left behind, and memory refused falls back to the pipe. Each script
also runs with ``SPAWNFIX=0``: the same output, no shared mapping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import matrix_pythons
from support.scripts import NATIVE_HANG_SECONDS, SCRIPTS, run_python

FOLDER = SCRIPTS / "shared_buffers"
SEGMENT = "spawnfix-shared-buffer"
# numpy for each Python (3.9's newest is 2.0.2; 2.5 needs 3.12 or later).
NUMPY = {"3.9": "numpy==2.0.2", "3.11": "numpy==2.4.6"}
# Protocol 4 (3.9; also 3.11 with torch, below) and 5 (3.14: the default from 3.14 on) of
# the matrix. 3.15 behaves as 3.14 (its lock is kept: SPAWNFIX_TEST_PYTHONS=3.15 runs it).
NUMPY_PYTHONS = [version for version in matrix_pythons() if version in ("3.9", "3.14")] or [
    version for version in matrix_pythons() if version == "3.15"
]
ML_REQUIREMENTS = (
    "torch==2.13.0",
    "pytorch-lightning==2.6.6",
    "wandb==0.31.0",
    "tensorboard==2.21.0",
)
SHARED = "mappings: shared; first, second, early: one copy; third: a new copy\n"


def numpy_env(envs, version: str, with_spawnfix: bool = True):
    requirement = NUMPY.get(version, "numpy==2.5.5")
    return envs.get(version, (requirement,), with_spawnfix)


def run(env, script: str, args: list[str], tmp_path: Path, **variables: str):
    return run_python(env.python, [str(FOLDER / script), *args], tmp_path, 120, **variables)


def holders_of_segments() -> list[str]:
    """Every process (of this machine) holding a spawnfix segment open or mapped."""
    holders = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/maps") as maps:
                mapped = SEGMENT in maps.read()
            opened = any(
                SEGMENT in os.readlink(f"/proc/{pid}/fd/{fd}")
                for fd in os.listdir(f"/proc/{pid}/fd")
            )
        except OSError:
            continue  # ended meanwhile
        if mapped or opened:
            holders.append(pid)
    return holders


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", NUMPY_PYTHONS)
def test_children_get_large_arrays_through_shared_memory(envs, tmp_path, version, method):
    """Process arguments of a program that chose its method: the children see the
    parent's arrays (dtype, shape, Fortran order, the writeable flag the standard pickle
    gives: a read-only array stays read-only from protocol 5 on), their own writes stay
    theirs, a child started before the parent wrote keeps the old data, one copy serves
    the first three children and the parent's write makes a new one."""
    env = numpy_env(envs, version)
    native = run(env, "properties.py", [method], tmp_path, SPAWNFIX="0")
    assert native.returncode == 0, native.output
    assert native.stdout.endswith("mappings: none\n"), native.output
    assert "own write -1.0" in native.stdout and "parent 0.0 1.0 1000000000.0 0.0" in native.stdout
    result = run(env, "properties.py", [method], tmp_path, SPAWNFIX="quiet")
    assert result.returncode == 0, result.output
    assert result.stdout.endswith(SHARED), result.output
    assert result.stdout.splitlines()[:-1] == native.stdout.splitlines()[:-1], result.output


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", NUMPY_PYTHONS)
def test_what_the_standard_pickle_decides_is_kept(envs, tmp_path, version, method):
    """A big-endian array (protocol 4 converts it to native byte order: not shared), a
    read-only one (protocol 5: the child cannot make it writable), the same array twice
    (one object) and a view's copy (its own memory), 200 arrays under a limit of 128
    descriptors, no segment descriptor inherited by what the child executes: as natively.
    Below protocol 5 the standard pickle's arrays own their memory (``setflags(write=True)``
    is refused on them, and allowed on the shared ones): that line aside."""
    env = numpy_env(envs, version)
    native = run(env, "edge_cases.py", [method], tmp_path, SPAWNFIX="0")
    result = run(env, "edge_cases.py", [method], tmp_path, SPAWNFIX="quiet")
    assert (native.returncode, result.returncode) == (0, 0), native.output + result.output
    assert "many: 200 19900.0\n" in native.stdout and "exit code 0 " in native.stdout
    assert "inherits: 0\n" in native.stdout, native.output

    def comparable(stdout: str) -> list[str]:
        return [line for line in stdout.splitlines() if not line.startswith("setflags")]

    assert comparable(result.stdout) == comparable(native.stdout), result.output
    if version not in ("3.9",):  # protocol 5
        assert result.stdout == native.stdout, result.output


@pytest.mark.parametrize(
    "setting",
    [{"LIMIT_FSIZE": "1"}, {"SPAWNFIX_SHARE_ABOVE": "0"}, {"SPAWNFIX_SHARE_ABOVE": "16M"}],
    ids=["memory-refused", "sharing-off", "threshold-above-the-arrays"],
)
def test_arrays_go_through_the_pipe_when_not_shared(envs, tmp_path, setting):
    """Memory refused (a file size limit below the arrays: ``ftruncate`` fails), sharing
    turned off, or arrays under the threshold: the standard pickle, the same output."""
    version = NUMPY_PYTHONS[-1] if NUMPY_PYTHONS else "3.14"
    env = numpy_env(envs, version)
    native = run(env, "properties.py", ["spawn"], tmp_path, SPAWNFIX="0")
    result = run(env, "properties.py", ["spawn"], tmp_path, SPAWNFIX_DEBUG="1", **setting)
    assert (result.returncode, native.returncode) == (0, 0), result.output + native.output
    assert result.stdout == native.stdout, result.output
    assert result.stdout.endswith("mappings: none\n"), result.output
    if "LIMIT_FSIZE" in setting:
        assert "sent through the pipe: OSError" in result.stderr, result.output


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("version", NUMPY_PYTHONS)
def test_an_unguarded_scripts_large_globals_arrive_shared(envs, tmp_path, version, method):
    """A script written for fork: its 40 MiB global (over the value limit, which no longer
    applies to such buffers) and an array in a dict reach every worker from shared memory;
    the top level runs once, each worker writes its own copy, a global view of the array
    shares its memory; fork gives the same."""
    env = numpy_env(envs, version)
    reference = run(env, "unguarded_global.py", [], tmp_path, START_METHOD="fork", SPAWNFIX="0")
    assert reference.returncode == 0, reference.output
    assert reference.stdout.startswith("building the data\n[(100.0, 5242879.0, 150000.0, -1.0)")
    assert reference.stdout.endswith("parent 0.0 3.0\n"), reference.output
    result = run(env, "unguarded_global.py", [], tmp_path, START_METHOD=method, SPAWNFIX="quiet")
    assert (result.returncode, result.stdout) == (0, reference.stdout), result.output
    assert result.stderr.count("worker arrays shared: True True") == 4, result.output
    # Natively the script cannot run under this method: every worker re-runs its top level
    # and dies at set_start_method while the pool replaces them forever (killed), or (a
    # 3.14 fork server imports the script) the fork server dies and so does the program.
    native = run_python(
        env.python,
        [str(FOLDER / "unguarded_global.py")],
        tmp_path,
        NATIVE_HANG_SECONDS,
        START_METHOD=method,
        SPAWNFIX="0",
    )
    assert native.timed_out or native.returncode != 0, native.output
    assert "RuntimeError" in native.stderr and "[(100.0" not in native.stdout, native.output


@pytest.mark.parametrize("how", ["normal", "kill-child", "kill-parent"])
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_no_segment_is_left_behind(envs, tmp_path, method, how):
    """The parent holds its segments while a child launched with them lives, none once
    they ended; after the run, ended normally, with a killed child or a killed parent, no
    process holds one, and ``/dev/shm`` is as before (a memory file has no name there)."""
    env = numpy_env(envs, NUMPY_PYTHONS[-1] if NUMPY_PYTHONS else "3.14")
    before = set(os.listdir("/dev/shm"))
    result = run_python(
        env.python,
        [str(FOLDER / "leftovers.py"), method, how],
        tmp_path,
        120,
        check_leftovers=True,
        SPAWNFIX="quiet",
    )
    assert "parent holds segments while its children live: True\n" in result.stdout
    assert "a fork child holds segments: False\n" in result.stdout, result.output
    if how == "kill-parent":
        assert result.returncode == -9, result.output
    else:
        codes = "[0, 0]" if how == "normal" else "[-9, -9]"
        assert result.returncode == 0, result.output
        assert f"exit codes {codes}\nparent holds segments after they ended: False\n" in (
            result.stdout
        )
    assert result.leftovers == (), result.output
    assert holders_of_segments() == []
    left = {name for name in set(os.listdir("/dev/shm")) - before if not name.startswith("sem.")}
    assert left == set()


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_dataloader_workers_write_their_own_copies(envs, tmp_path, method):
    """torch 2.13: a DataLoader's workers get the dataset's array from shared memory and
    write into their own copies: the batches and the parent's array as under fork and as
    natively."""
    env = envs.get("3.11", ML_REQUIREMENTS)
    fork = run(env, "dataloader_writes.py", ["fork"], tmp_path, SPAWNFIX="0")
    assert fork.returncode == 0, fork.output
    assert fork.stdout.endswith("parent's array 3200000.0\n"), fork.output
    native = run(env, "dataloader_writes.py", [method], tmp_path, SPAWNFIX="0")
    result = run(env, "dataloader_writes.py", [method], tmp_path, SPAWNFIX="quiet")
    assert native.stdout == fork.stdout, native.output
    assert (result.returncode, result.stdout) == (0, fork.stdout), result.output
    assert "array shared: True" in result.stderr and "shared: False" not in result.stderr
    assert "array shared: False" in native.stderr, native.output
