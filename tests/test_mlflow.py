"""A user logs to MLflow from Pool workers of an unguarded script (issue 29, finding 8:
"MLflow hangs").

Real mlflow-skinny 3.18.0 with sqlalchemy and alembic on Python 3.11, offline: a sqlite
tracking store in the run's folder, telemetry off. The script starts a run at top level and
its workers log a metric into it by the run's id; under fork (``SPAWNFIX=0``) that gives
one run holding every worker's value. spawn and forkserver with spawnfix must give the
same; natively the unguarded script cannot run under spawn at all.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.scripts import NATIVE_HANG_SECONDS, SCRIPTS, Result, run_python

MLFLOW_REQUIREMENTS = ("mlflow-skinny==3.18.0", "sqlalchemy==2.1.9", "alembic==1.20.1")
MLFLOW_PYTHON = "3.11"
# Importing mlflow and creating the sqlite store's tables takes seconds; a run that works
# ends well within this, one that hangs is killed at it.
RUN_TIMEOUT = 180
# Nothing may reach the network: no telemetry, no tracking server (the script names its
# own sqlite store with set_tracking_uri, which sets MLFLOW_TRACKING_URI: a child's re-run
# sets it again to the value it has).
OFFLINE = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GIT_PYTHON_REFRESH": "quiet",
}
EXPECTED = "done [0, 1, 2, 3]\nmetrics [0.0, 10.0, 20.0, 30.0]\nruns 1 ['FINISHED']\n"


@pytest.fixture(scope="module")
def mlflow_env(envs):
    """The cached environment with mlflow-skinny, sqlalchemy, alembic and spawnfix."""
    return envs.get(MLFLOW_PYTHON, MLFLOW_REQUIREMENTS)


def run_case(env, case: str, work: Path, timeout: float = RUN_TIMEOUT, **variables: str):
    """Run ``mlflow_cases/<case>.py`` as a script in a private copy (its store: ``work``)."""
    shutil.copytree(SCRIPTS / "mlflow_cases", work / "mlflow_cases")
    args = [str(work / "mlflow_cases" / f"{case}.py")]
    return run_python(env.python, args, work, timeout, **OFFLINE, **variables)


@pytest.fixture(scope="module")
def fork_result(mlflow_env, tmp_path_factory) -> Result:
    """The reference: the script under fork, without spawnfix."""
    work = tmp_path_factory.mktemp("fork")
    result = run_case(mlflow_env, "pool_metrics", work, START_METHOD="fork", SPAWNFIX="0")
    assert (result.returncode, result.stdout) == (0, EXPECTED), result.output
    return result


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_pool_workers_log_into_the_parents_run(mlflow_env, fork_result, tmp_path, start_method):
    """spawn and forkserver with spawnfix: the workers' metrics in the parent's one run,
    as under fork (spawnfix used to hang here)."""
    result = run_case(
        mlflow_env,
        "pool_metrics",
        tmp_path / start_method,
        START_METHOD=start_method,
        SPAWNFIX="quiet",
    )
    assert not result.timed_out, result.output
    assert (result.returncode, result.stdout) == (0, fork_result.stdout), result.output


def test_the_unguarded_script_cannot_run_natively(mlflow_env, fork_result, tmp_path):
    """``SPAWNFIX=0`` under spawn: the workers die with the bootstrapping error and the
    pool hangs (killed).

    Unlike the other scripts' this parent needs seconds to reach its pool (mlflow's import,
    the store's tables) and each worker seconds more to reach the error (the import again,
    a run of its own), so the run is given twice what the whole script took under fork on
    this machine, plus the usual allowance for the hang to show.
    """
    result = run_case(
        mlflow_env,
        "pool_metrics",
        tmp_path / "native",
        timeout=2 * fork_result.elapsed + NATIVE_HANG_SECONDS,
        START_METHOD="spawn",
        SPAWNFIX="0",
    )
    assert result.timed_out, result.output
    assert "bootstrapping phase" in result.stderr, result.output
