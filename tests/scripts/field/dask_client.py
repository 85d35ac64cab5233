"""Unguarded: a dask.distributed Client with worker processes, created at top level. dask
starts its workers from its event-loop thread, with the start method in the config key
distributed.worker.multiprocessing-method (here from the environment)."""
import os

from dask.distributed import Client


def record(event):
    with open(os.environ["MARKER_FILE"], "a") as handle:
        handle.write(f"{os.getpid()} {__name__} {event}\n")


def increment(x):
    return x + 1


record("start")
client = Client(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
print("results", client.gather(client.map(increment, range(10))))
client.close()
record("end")
