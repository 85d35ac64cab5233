"""Unguarded (issue 29, finding 8): an MLflow run on a sqlite store at top level, then a
Pool whose workers log a metric into the parent's run by its id. Under fork the workers
log into that one run and no worker starts a run of its own."""

import multiprocessing
import os

import mlflow
from mlflow.tracking import MlflowClient

mlflow.set_tracking_uri("sqlite:///mlflow.db")
experiment = mlflow.set_experiment("exp")
run = mlflow.start_run()
RUN_ID = run.info.run_id


def work(x):
    mlflow.log_metric("m", x * 10, step=x, run_id=RUN_ID)
    return x


with multiprocessing.get_context(os.environ.get("START_METHOD", "spawn")).Pool(2) as pool:
    done = pool.map(work, range(4))
mlflow.end_run()
client = MlflowClient()
history = client.get_metric_history(RUN_ID, "m")
runs = client.search_runs([experiment.experiment_id])
print("done", done)
print("metrics", sorted(metric.value for metric in history))
print("runs", len(runs), [r.info.status for r in runs])
