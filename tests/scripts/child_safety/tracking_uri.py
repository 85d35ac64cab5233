"""Unguarded, shaped like an MLflow script: the tracking URI set at the top level through
an installed library (which sets an environment variable and its own state), then a Pool
whose workers log through it."""
import multiprocessing
import os

import tracker_lib

tracker_lib.set_tracking_uri("sqlite:///mlflow.db")


def work(x):
    return tracker_lib.log_metric(x)


context = multiprocessing.get_context(os.environ["START_METHOD"])
with context.Pool(2) as pool:
    print(pool.map(work, range(3)))
