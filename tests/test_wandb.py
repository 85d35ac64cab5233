"""A user with wandb runs an unguarded script (issue 4).

Real wandb, offline (WANDB_MODE=offline). The default run covers wandb 0.12.5 (the
original report, Python 3.9) and the latest (0.31.0, Python 3.11). The full version matrix:
``SPAWNFIX_TEST_WANDB=all python -m pytest tests/test_wandb.py``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from support.scripts import SCRIPTS, run_python

SUPPORT = Path(__file__).resolve().parent / "support"

# wandb version -> (Python, extra requirements, whether its backend uses multiprocessing)
WANDB_VERSIONS = {
    "0.12.5": ("3.9", ("protobuf<3.21", "sentry-sdk<2"), True),
    "0.12.21": ("3.9", ("protobuf<3.21", "sentry-sdk<2"), True),
    "0.13.11": ("3.9", ("protobuf<3.21", "sentry-sdk<2"), False),
    "0.15.12": ("3.11", (), False),
    "0.16.6": ("3.11", (), False),
    "0.17.9": ("3.11", (), False),
    "0.19.11": ("3.11", (), False),
    "0.31.0": ("3.11", (), False),
}
DEFAULT_VERSIONS = ("0.12.5", "0.31.0")
LATEST = "0.31.0"


def wandb_versions_to_test() -> list[str]:
    """wandb versions for this run: the default pair, or all with SPAWNFIX_TEST_WANDB=all."""
    if os.environ.get("SPAWNFIX_TEST_WANDB") == "all":
        return list(WANDB_VERSIONS)
    return list(DEFAULT_VERSIONS)


def wandb_env(envs, version: str):
    """The cached environment with this wandb version and spawnfix."""
    python, extra, _ = WANDB_VERSIONS[version]
    return envs.get(python, (f"wandb=={version}", *extra))


def run_case(env, case: str, tmp_path: Path, timeout: float = 240, **variables: str):
    """Run ``wandb_cases.<case>`` as a module (``python -m``) in a private copy."""
    work = tmp_path / "work"
    shutil.copytree(SCRIPTS / "wandb_cases", work / "wandb_cases")
    result = run_python(env.python, ["-m", f"wandb_cases.{case}"], work, timeout, **variables)
    run_dirs = sorted((work / "wandb").glob("offline-run-*")) if (work / "wandb").exists() else []
    return result, run_dirs


def history(env, run_dir: Path, tmp_path: Path) -> list[dict]:
    """The rows logged to an offline run, read with that environment's wandb."""
    result = run_python(env.python, [str(SUPPORT / "read_wandb_run.py"), str(run_dir)], tmp_path)
    assert result.returncode == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("version", wandb_versions_to_test())
def test_original_report_unguarded_module_run(envs, tmp_path, version):
    """init/log/finish at top level, `python -m`: one run holding the logged values.

    wandb before 0.13 crashes here without spawnfix: its spawned backend re-runs the
    module and dies; that failure is asserted too, so the test proves something.
    """
    env = wandb_env(envs, version)
    uses_multiprocessing = WANDB_VERSIONS[version][2]
    if uses_multiprocessing:
        native, _ = run_case(env, "train2", tmp_path / "off", SPAWNFIX="0")
        assert native.returncode != 0, native.output
        assert "backend process has shutdown" in native.stderr or native.timed_out
        assert "bootstrapping phase" in native.stderr, native.output

    result, run_dirs = run_case(env, "train2", tmp_path / "on")
    assert result.returncode == 0, result.output
    assert "finished" in result.stdout
    assert len(run_dirs) == 1, run_dirs
    assert history(env, run_dirs[0], tmp_path) == [
        {"epoch": 0, "loss": 1},
        {"epoch": 1, "loss": 0.5},
    ]
    if uses_multiprocessing:
        assert "WANDB_START_METHOD=thread" in result.stderr, result.output
        assert "train2.py:4" in result.stderr


def test_old_wandb_keeps_a_start_method_the_user_chose(envs, tmp_path):
    """WANDB_START_METHOD=spawn is respected; the multiprocessing repair keeps the
    spawned backend from re-running wandb.init and the rest of the script."""
    env = wandb_env(envs, "0.12.5")
    result, run_dirs = run_case(env, "train2", tmp_path, WANDB_START_METHOD="spawn")
    assert result.returncode == 0, result.output
    assert result.stdout.count("finished") == 1, result.output
    assert "WANDB_START_METHOD=thread" not in result.stderr
    assert "train2.py:4 starts a 'spawn' child process" in result.stderr, result.output
    assert len(run_dirs) == 1, run_dirs
    assert history(env, run_dirs[0], tmp_path) == [
        {"epoch": 0, "loss": 1},
        {"epoch": 1, "loss": 0.5},
    ]


@pytest.mark.parametrize("version", wandb_versions_to_test())
def test_spawn_pool_creates_exactly_one_run(envs, tmp_path, version):
    """Top-level wandb.init and a spawn Pool: one run; workers' run.log is a no-op."""
    env = wandb_env(envs, version)
    result, run_dirs = run_case(env, "pool_duplicates", tmp_path)
    assert result.returncode == 0, result.output
    assert "total 45" in result.stdout, result.output
    assert len(run_dirs) == 1, run_dirs
    assert history(env, run_dirs[0], tmp_path) == [{"total": 45}]
    # One warning for the pool (and wandb.init in it), once; old wandb adds one for the
    # switch of its backend to thread start.
    assert result.stderr.count("starts a 'spawn' child process") == 1, result.output
    expected_warnings = 2 if WANDB_VERSIONS[version][2] else 1
    assert result.stderr.count("UnguardedMainWarning:") == expected_warnings, result.output
    assert "wandb.init() runs again in every child" in result.stderr
    assert '7 | run = wandb.init(project="spawnfix-pool"' in result.stderr


def test_without_spawnfix_the_pool_duplicates_runs(envs, tmp_path):
    """The failure spawnfix prevents: workers re-run wandb.init and the pool hangs."""
    env = wandb_env(envs, LATEST)
    result, run_dirs = run_case(env, "pool_duplicates", tmp_path, timeout=30, SPAWNFIX="0")
    assert result.timed_out, result.output
    assert len(run_dirs) > 1, run_dirs


def test_strict_mode_names_the_wandb_line(envs, tmp_path):
    """SPAWNFIX=strict: UnguardedMainError, naming the wandb.init line, no run started."""
    env = wandb_env(envs, LATEST)
    result, _ = run_case(env, "pool_duplicates", tmp_path, timeout=120, SPAWNFIX="strict")
    assert result.returncode == 1, result.output
    assert "UnguardedMainError" in result.stderr
    assert "run = wandb.init(project=" in result.stderr
    assert "would create a duplicate run" in result.stderr


def test_strict_mode_old_wandb_stops_before_its_backend(envs, tmp_path):
    """wandb 0.12.5, strict: the error comes before the spawn backend starts."""
    env = wandb_env(envs, "0.12.5")
    result, _ = run_case(env, "train2", tmp_path, timeout=120, SPAWNFIX="strict")
    assert result.returncode == 1, result.output
    assert "UnguardedMainError" in result.stderr
    assert "train2.py:4" in result.stderr and "WANDB_START_METHOD=thread" in result.stderr
    assert "bootstrapping phase" in result.stderr


@pytest.mark.parametrize("version", wandb_versions_to_test())
def test_wrapper_keeps_wandb_shapes(envs, tmp_path, version):
    """The wrapper is one object everywhere and returns exactly wandb's own objects."""
    env = wandb_env(envs, version)
    result, _ = run_case(env, "wrapper_shape", tmp_path)
    assert result.returncode == 0, result.output
    for line in (
        "wrapper FunctionWrapper",
        "same True",
        "signature init wandb.sdk.wandb_init",
        "isinstance True",
        "child gets disabled run True",
    ):
        assert line in result.stdout, result.output


def test_unknown_wandb_shape_is_left_alone(main_env, tmp_path):
    """A wandb whose init is not a plain function: untouched, with a debug line saying why."""
    fake = tmp_path / "fake" / "wandb"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "__version__ = '99.0'\n"
        "class _Init:\n"
        "    def __call__(self, **kwargs):\n"
        "        return 'run'\n"
        "init = _Init()\n"
    )
    code = "import wandb; print(type(wandb.init).__name__, wandb.init())"
    result = run_python(
        main_env.python, ["-c", code], tmp_path, PYTHONPATH=str(fake.parent), SPAWNFIX_DEBUG="1"
    )
    assert result.returncode == 0, result.output
    assert result.stdout.strip() == "_Init run"
    assert "not a plain function; wandb integration skipped" in result.stderr, result.output
