"""The test stacks several test modules use: each environment's Python and requirements
(locked in tests/locks/), and the run of an ML case."""

from __future__ import annotations

import shutil
from pathlib import Path

from support.corpus import CorpusRun
from support.scripts import SCRIPTS, free_port, run_python

# torch (CPU), Lightning, wandb, TensorBoard: tests/test_ml_stacks.py and others.
ML_REQUIREMENTS = (
    "torch==2.13.0",
    "pytorch-lightning==2.6.6",
    "wandb==0.31.0",
    "tensorboard==2.21.0",
)
ML_PYTHON = "3.11"

# dask's distributed and multiprocessing's forks: tests/test_field_libraries.py and others.
LIBRARIES = ("distributed==2026.8.0", "multiprocess==0.70.19", "billiard==4.3.2")
LIBRARIES_PYTHON = "3.11"


class MlRun(CorpusRun):
    """One run of ``ml_cases.<case>``: result, markers, wandb run folders."""

    def __init__(self, env, case: str, tmp_path: Path, **variables: str) -> None:
        work = tmp_path / "work"
        shutil.copytree(SCRIPTS / "ml_cases", work / "ml_cases")
        marker_file = tmp_path / "markers.txt"
        result = run_python(
            env.python,
            ["-m", f"ml_cases.{case}"],
            work,
            timeout=300,
            MARKER_FILE=str(marker_file),
            MASTER_PORT=str(free_port()),
            **variables,
        )
        super().__init__(result, marker_file)
        wandb_dir = work / "wandb"
        self.wandb_runs = sorted(wandb_dir.glob("offline-run-*")) if wandb_dir.exists() else []
