"""A user trains a model with an unguarded script (issue 5): PyTorch DataLoader workers,
torch.multiprocessing.spawn, Lightning with WandbLogger, Lightning ddp_spawn; TensorBoard's
``SummaryWriter`` at top level (one run folder, as under fork: issue 15) and DataLoader
workers logging from ``__getitem__`` into the parent's log file (issue 19); ranks of
``torch.multiprocessing.spawn`` and Lightning ``ddp_spawn`` see the globals ``main()`` set,
as under fork (issue 15).

Real torch 2.13.0 (CPU), pytorch-lightning 2.6.6 and wandb 0.31.0 (offline), tiny
synthetic data, no downloads.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.scripts import run_python
from support.stacks import ML_PYTHON, ML_REQUIREMENTS, MlRun

REPAIRED = "stops each child's re-run"


@pytest.fixture(scope="module")
def ml_env(envs):
    """The cached environment with torch, Lightning, wandb and spawnfix."""
    return envs.get(ML_PYTHON, ML_REQUIREMENTS)


def assert_children_stopped_before_the_site(run: MlRun, parent_events: list[str]) -> None:
    """The parent ran the script; children redid none of its top-level work (as under
    fork: the script's top-level ``record("start")`` writes nothing in them)."""
    assert run.events_of("__main__") == parent_events, run.markers
    assert "start" not in run.events_of("__mp_main__"), run.markers
    assert REPAIRED in run.result.stderr, run.result.output


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_dataloader_workers(ml_env, tmp_path, start_method):
    """Every sample once per epoch, from two persistent spawn/forkserver workers."""
    run = MlRun(ml_env, "dataloader", tmp_path, START_METHOD=start_method)
    assert run.result.returncode == 0, run.result.output
    assert "samples True" in run.result.stdout, run.result.output
    assert_children_stopped_before_the_site(run, ["start", "after-loop"])
    assert run.events_of("__mp_main__") == [], run.markers


def test_dataloader_without_spawnfix_fails(ml_env, tmp_path):
    """The failure spawnfix prevents: the workers die re-running the loop."""
    run = MlRun(ml_env, "dataloader", tmp_path, START_METHOD="spawn", SPAWNFIX="0")
    assert run.result.returncode != 0
    assert "exited unexpectedly" in run.result.stderr, run.result.output


def test_torch_multiprocessing_spawn_all_reduce(ml_env, tmp_path):
    """Two ranks, gloo on the CPU: both see the sum 1 + 2 = 3."""
    run = MlRun(ml_env, "mp_spawn_allreduce", tmp_path)
    assert run.result.returncode == 0, run.result.output
    assert sorted(e for e in run.events_of("__mp_main__") if e != "start") == [
        "rank 0 sum 3",
        "rank 1 sum 3",
    ]
    assert_children_stopped_before_the_site(run, ["start", "after-spawn"])


def test_lightning_with_wandb_logger(ml_env, tmp_path):
    """Lightning + WandbLogger(offline) + spawn loaders: two epochs, exactly one run."""
    run = MlRun(ml_env, "lightning_wandb", tmp_path)
    assert run.result.returncode == 0, run.result.output
    assert "epochs 2" in run.result.stdout, run.result.output
    assert len(run.wandb_runs) == 1, run.wandb_runs
    assert_children_stopped_before_the_site(run, ["start", "after-fit"])
    reader = Path(__file__).resolve().parent / "support" / "read_wandb_run.py"
    rows = run_python(ml_env.python, [str(reader), str(run.wandb_runs[0])], tmp_path)
    assert '"train_loss"' in rows.stdout and '"epoch": 1' in rows.stdout, rows.output


def test_lightning_ddp_spawn(ml_env, tmp_path):
    """strategy="ddp_spawn", devices=2 on the CPU: both ranks finish both epochs."""
    run = MlRun(ml_env, "lightning_ddp_spawn", tmp_path)
    assert run.result.returncode == 0, run.result.output
    ends = sorted(e for e in run.events_of("__mp_main__") if e.startswith("train-end"))
    assert ends == ["train-end rank 0 epochs 2", "train-end rank 1 epochs 2"], run.markers
    assert_children_stopped_before_the_site(run, ["start", "after-fit"])


def _run_folders(tmp_path: Path) -> list[str]:
    runs = tmp_path / "work" / "runs"
    return sorted(path.name for path in runs.iterdir()) if runs.exists() else []


@pytest.mark.parametrize("start_method", ["fork", "spawn", "forkserver"])
def test_tensorboard_writer_at_top_level_leaves_one_run(ml_env, tmp_path, start_method):
    """spawn and forkserver with spawnfix: one run folder, as fork leaves."""
    run = MlRun(ml_env, "tensorboard_loader", tmp_path, START_METHOD=start_method)
    assert run.result.returncode == 0, run.result.output
    assert "run folders 1" in run.result.stdout, run.result.output
    assert len(_run_folders(tmp_path)) == 1


def test_tensorboard_writer_without_spawnfix_fails(ml_env, tmp_path):
    """``SPAWNFIX=0``: the workers die re-running the unguarded loop."""
    run = MlRun(ml_env, "tensorboard_loader", tmp_path, START_METHOD="spawn", SPAWNFIX="0")
    assert run.result.returncode != 0
    assert "exited unexpectedly" in run.result.stderr, run.result.output


def test_dataloader_workers_log_into_the_parents_file(ml_env, tmp_path):
    """Records from ``__getitem__`` in the workers land in the parent's ``train.log`` as
    under fork, for a program given fork's children (``SPAWNFIX_VALUES=fork``: this one
    names its ``multiprocessing_context``); by default, as with ``SPAWNFIX=0``, a program
    that chose spawn keeps spawn's children: their logging is their own (unconfigured,
    the records are lost)."""
    expected = sorted(
        ["data parent starts\n", "data parent done, total 15\n"]
        + [f"data worker loads {index}\n" for index in range(6)]
    )
    for method in ("fork", "spawn", "forkserver"):
        run = MlRun(
            ml_env, "loader_logging", tmp_path / method, START_METHOD=method, SPAWNFIX_VALUES="fork"
        )
        assert run.result.returncode == 0, run.result.output
        assert run.result.stdout == "".join(expected), (method, run.result.stdout)
    for label, env in (("native", {"SPAWNFIX": "0"}), ("chosen", {})):
        run = MlRun(ml_env, "loader_logging", tmp_path / label, START_METHOD="spawn", **env)
        assert run.result.returncode == 0, run.result.output
        assert "worker loads" not in run.result.stdout, run.result.stdout


def _children_see_what_main_set(ml_env, tmp_path, case: str, methods, seen: str) -> None:
    # Under fork the script prints ``seen`` (its checks all True), and so under spawn and
    # forkserver with SPAWNFIX_VALUES=fork. These programs chose their start method, so by
    # default their children are spawn's, as with SPAWNFIX=0: the same checks print
    # False (import-time values).
    native_seen = seen.replace("True", "False")
    for method in methods:
        run = MlRun(ml_env, case, tmp_path / method, START_METHOD=method, SPAWNFIX_VALUES="fork")
        assert (run.result.returncode, run.result.stdout) == (0, seen), run.result.output
        if method != "fork":
            chose = MlRun(ml_env, case, tmp_path / f"{method}-auto", START_METHOD=method)
            assert (chose.result.returncode, chose.result.stdout) == (0, native_seen), (
                chose.result.output
            )
    native = MlRun(ml_env, case, tmp_path / "native", START_METHOD="spawn", SPAWNFIX="0")
    assert native.result.returncode == 0, native.result.output
    assert native.result.stdout == native_seen, native.result.output


def test_torch_multiprocessing_ranks_see_what_main_set(ml_env, tmp_path):
    """Guarded: ``main()`` names a run folder by ``uuid`` and draws a tensor of random
    weights, then starts two ranks. ``torch.multiprocessing.spawn`` with spawnfix gives
    each rank the parent's values, as ``start_processes(start_method="fork")`` does; with
    ``SPAWNFIX=0`` the ranks see the import-time ``None`` (issue 15). The program chose
    spawn (torch.multiprocessing.spawn does): by default the ranks are spawn's, and
    ``SPAWNFIX_VALUES=fork`` gives them fork's values."""
    seen = "ranks: 2 see the parent's run and weights: True\nrun folders: 1\n"
    _children_see_what_main_set(
        ml_env, tmp_path, "mp_spawn_values", ("fork", "spawn", "forkserver"), seen
    )


def test_lightning_ranks_see_what_main_set(ml_env, tmp_path):
    """Guarded Lightning script: ``main()`` names a run folder and sets a scale, then
    fits with ``ddp_spawn`` on two CPU ranks. With spawnfix both ranks see them, as under
    ``ddp_fork``; with ``SPAWNFIX=0`` the spawned ranks see the import-time values."""
    seen = "ranks see the parent's run and scale: True\nrun folders: 1\n"
    _children_see_what_main_set(ml_env, tmp_path, "lightning_values", ("fork", "spawn"), seen)


def test_tensor_global_arrives_as_a_copy(ml_env, tmp_path):
    """A tensor global that ``main()`` filled: a spawn or forkserver worker that changes it
    in place changes its own copy, as under fork; the parent's tensor keeps its values and
    is not moved into shared memory (torch's pickler reducers, which share, are not used
    for the parent's values). With ``SPAWNFIX=0`` the worker sees the import-time ``None``,
    and so by default: the program chose its start method (``SPAWNFIX_VALUES=fork`` here)."""
    seen = "worker sees [8.0, 12.0]\nparent has 4.0 shared False\n"
    for method in ("fork", "spawn", "forkserver"):
        run = MlRun(
            ml_env, "tensor_values", tmp_path / method, START_METHOD=method, SPAWNFIX_VALUES="fork"
        )
        assert (run.result.returncode, run.result.stdout) == (0, seen), run.result.output
    chose = MlRun(ml_env, "tensor_values", tmp_path / "auto", START_METHOD="spawn")
    assert "'NoneType' object has no attribute 'add_'" in chose.result.stderr, chose.result.output
    native = MlRun(ml_env, "tensor_values", tmp_path / "native", START_METHOD="spawn", SPAWNFIX="0")
    assert native.result.returncode != 0, native.result.output
    assert "'NoneType' object has no attribute 'add_'" in native.result.stderr
